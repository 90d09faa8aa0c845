/*
 * check_lib.c - libtapnet's notes by fd number (src/lib/tapnet_internal.h):
 * what the shim knows of each number a program uses (a socket never
 * connected, a tapnet socket whose write() goes as a send), kept in pages
 * mapped as numbers are first noted; and which kernel sockets are the
 * seccomp supervisor's placeholders. Built with TN_LIB_SUPERVISOR, as the
 * seccomp supervisor builds libtapnet: no load-time constructor, no daemon.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/tapnet_internal.h"

/* Notes fd as a socket never connected (cookie) and a tapnet socket. */
static void note(int fd, uint64_t cookie)
{
	struct tn_lib_note *n = tn_lib_note_make(fd);
	ck_assert_ptr_nonnull(n);
	atomic_store(&n->unconnected, cookie);
	atomic_store(&n->socket, TN_LIB_FD_SOCKET);
}

static bool page_mapped(int fd)
{
	return atomic_load(&tn_lib_note_pages[fd / TN_LIB_NOTE_PAGE]) != NULL;
}

/* Every test starts with nothing noted (pages mapped by earlier tests stay, empty). */
static void setup(void)
{
	tn_lib_fd_closing(0, INT_MAX);
}

START_TEST(first_page_is_there_the_others_come_when_noted)
{
	ck_assert_ptr_nonnull(tn_lib_note(0));
	ck_assert_ptr_nonnull(tn_lib_note(TN_LIB_NOTE_PAGE - 1));
	ck_assert_int_eq(tn_lib_noted_socket(TN_LIB_NOTE_PAGE - 1), 0);
	/* a look-up maps nothing: an unnoted number far out costs no memory */
	int far = 37 * TN_LIB_NOTE_PAGE + 5;
	ck_assert_ptr_null(tn_lib_note(far));
	ck_assert_int_eq(tn_lib_noted_unconnected(far), 0);
	ck_assert(!page_mapped(far));
	note(far, 42);
	ck_assert(page_mapped(far));
	ck_assert_int_eq(tn_lib_noted_unconnected(far), 42);
	ck_assert_int_eq(tn_lib_noted_socket(far), TN_LIB_FD_SOCKET);
	/* its neighbours share the page and start empty */
	ck_assert_ptr_eq(tn_lib_note(far + 1), tn_lib_note(far) + 1);
	ck_assert_int_eq(tn_lib_noted_unconnected(far + 1), 0);
	ck_assert_int_eq(tn_lib_noted_unconnected(far - 5), 0);
}
END_TEST

START_TEST(numbers_out_of_range_are_never_noted)
{
	ck_assert_ptr_null(tn_lib_note(-1));
	ck_assert_ptr_null(tn_lib_note_make(-1));
	ck_assert_ptr_null(tn_lib_note_make(INT_MIN));
	ck_assert_ptr_null(tn_lib_note(TN_LIB_NOTED_FDS));
	ck_assert_ptr_null(tn_lib_note_make(TN_LIB_NOTED_FDS));
	ck_assert_ptr_null(tn_lib_note_make(INT_MAX));
	ck_assert_ptr_nonnull(tn_lib_note_make(TN_LIB_NOTED_FDS - 1)); /* the last one is */
	ck_assert_int_eq(tn_lib_noted_socket(INT_MAX), 0);
	ck_assert_int_eq(tn_lib_noted_unconnected(-7), 0);
}
END_TEST

START_TEST(closing_a_range_clears_it_across_pages_and_nothing_else)
{
	int keep_low = 10, keep_high = 3 * TN_LIB_NOTE_PAGE + 100;
	int in[] = { TN_LIB_NOTE_PAGE - 1, TN_LIB_NOTE_PAGE, TN_LIB_NOTE_PAGE + 904,
		     2 * TN_LIB_NOTE_PAGE + 7 };
	note(keep_low, 1);
	note(keep_high, 2);
	for (unsigned i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		note(in[i], 100 + i);
	tn_lib_fd_closing(TN_LIB_NOTE_PAGE - 1, 2 * TN_LIB_NOTE_PAGE + 7);
	for (unsigned i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		ck_assert_int_eq(tn_lib_noted_unconnected(in[i]), 0);
		ck_assert_int_eq(tn_lib_noted_socket(in[i]), 0);
	}
	ck_assert_int_eq(tn_lib_noted_unconnected(keep_low), 1);
	ck_assert_int_eq(tn_lib_noted_unconnected(keep_high), 2);
	ck_assert_int_eq(tn_lib_noted_socket(keep_high), TN_LIB_FD_SOCKET);
	/* one number (close, dup2 over it) */
	tn_lib_fd_closing(keep_high, keep_high);
	ck_assert_int_eq(tn_lib_noted_unconnected(keep_high), 0);
	ck_assert_int_eq(tn_lib_noted_unconnected(keep_low), 1);
}
END_TEST

START_TEST(closing_everything_maps_no_page)
{
	int unmapped = 200 * TN_LIB_NOTE_PAGE;
	note(3, 9);
	note(TN_LIB_NOTED_FDS - 1, 8);
	ck_assert(!page_mapped(unmapped));
	/* close_range(3, ~0U) and closefrom(3) as a child's start makes them */
	tn_lib_fd_closing(3, INT_MAX);
	ck_assert_int_eq(tn_lib_noted_unconnected(3), 0);
	ck_assert_int_eq(tn_lib_noted_unconnected(TN_LIB_NOTED_FDS - 1), 0);
	ck_assert(!page_mapped(unmapped));
	/* a range that starts below 0 and one past the table */
	note(0, 5);
	tn_lib_fd_closing(-10, 0);
	ck_assert_int_eq(tn_lib_noted_unconnected(0), 0);
	tn_lib_fd_closing(TN_LIB_NOTED_FDS, INT_MAX); /* nothing there, no crash */
}
END_TEST

START_TEST(a_copy_takes_its_originals_notes_at_any_number)
{
	int orig = 5, copy_far = 9 * TN_LIB_NOTE_PAGE + 3, copy_near = 6;
	note(orig, 77);
	tn_lib_fd_duplicated(orig, copy_far);
	ck_assert_int_eq(tn_lib_noted_unconnected(copy_far), 77);
	ck_assert_int_eq(tn_lib_noted_socket(copy_far), TN_LIB_FD_SOCKET);
	/* a copy of an unnoted number clears what the new number had */
	note(copy_near, 55);
	tn_lib_fd_duplicated(TN_LIB_NOTE_PAGE + 11, copy_near);
	ck_assert_int_eq(tn_lib_noted_unconnected(copy_near), 0);
	ck_assert_int_eq(tn_lib_noted_socket(copy_near), 0);
	/* and maps no page for a number that had nothing */
	int unmapped = 150 * TN_LIB_NOTE_PAGE + 1;
	tn_lib_fd_duplicated(TN_LIB_NOTE_PAGE + 11, unmapped);
	ck_assert(!page_mapped(unmapped));
	/* numbers out of range on either side change nothing */
	tn_lib_fd_duplicated(orig, TN_LIB_NOTED_FDS);
	tn_lib_fd_duplicated(-1, orig);
	ck_assert_int_eq(tn_lib_noted_unconnected(orig), 0); /* -1 has no notes: orig's go */
}
END_TEST

START_TEST(a_number_with_no_note_was_connected_as_far_as_the_shim_knows)
{
	/* no note: answered without a system call or a request (no daemon here) */
	ck_assert_int_eq(tn_lib_never_connected(12345), 0);
	ck_assert_int_eq(tn_lib_never_connected(-1), 0);
	ck_assert_int_eq(tn_lib_never_connected(INT_MAX), 0);
}
END_TEST

#define RACERS 8
static pthread_barrier_t race_start;
static int race_fd;

static void *race_make(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&race_start);
	return tn_lib_note_make(race_fd);
}

START_TEST(threads_that_map_one_page_at_once_get_the_same_one)
{
	pthread_t t[RACERS];
	void *got[RACERS];

	for (int round = 0; round < 20; round++) {
		race_fd = (220 + round) * TN_LIB_NOTE_PAGE + round;
		ck_assert(!page_mapped(race_fd));
		ck_assert_int_eq(pthread_barrier_init(&race_start, NULL, RACERS), 0);
		for (int i = 0; i < RACERS; i++)
			ck_assert_int_eq(pthread_create(&t[i], NULL, race_make, NULL), 0);
		for (int i = 0; i < RACERS; i++)
			ck_assert_int_eq(pthread_join(t[i], &got[i]), 0);
		pthread_barrier_destroy(&race_start);
		for (int i = 0; i < RACERS; i++)
			ck_assert_ptr_eq(got[i], tn_lib_note(race_fd));
		ck_assert_ptr_nonnull(got[0]);
	}
}
END_TEST

static int marked(int domain, int type)
{
	int fd = socket(domain, type, 0), mark = TN_PLACEHOLDER_MARK;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &mark, sizeof(mark)), 0);
	return fd;
}

/* What the shim hands to the supervisor unmarked (run_seccomp.c's placeholders), and what not. */
START_TEST(a_placeholder_is_a_marked_tcp_socket_never_bound)
{
	int tcp = marked(AF_INET, SOCK_STREAM), tcp6 = marked(AF_INET6, SOCK_STREAM);
	int plain = socket(AF_INET, SOCK_STREAM, 0), udp = marked(AF_INET, SOCK_DGRAM);
	int bound = marked(AF_INET, SOCK_STREAM), pair[2];
	struct sockaddr_in lo = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	ck_assert_int_eq(bind(bound, (struct sockaddr *)&lo, sizeof(lo)), 0); /* a port, no traffic */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
	errno = 4242;
	ck_assert(tn_lib_placeholder(tcp));
	ck_assert(tn_lib_placeholder(tcp6));
	ck_assert(!tn_lib_placeholder(plain));
	ck_assert(!tn_lib_placeholder(udp));
	ck_assert(!tn_lib_placeholder(bound));
	ck_assert(!tn_lib_placeholder(pair[0]));
	ck_assert(!tn_lib_placeholder(-1));
	ck_assert_int_eq(errno, 4242); /* the call it comes before sets errno, not this */
	close(tcp);
	close(tcp6);
	close(plain);
	close(udp);
	close(bound);
	close(pair[0]);
	close(pair[1]);
}
END_TEST

static Suite *lib_suite(void)
{
	Suite *s = suite_create("lib");
	TCase *tc = tcase_create("notes");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, first_page_is_there_the_others_come_when_noted);
	tcase_add_test(tc, numbers_out_of_range_are_never_noted);
	tcase_add_test(tc, closing_a_range_clears_it_across_pages_and_nothing_else);
	tcase_add_test(tc, closing_everything_maps_no_page);
	tcase_add_test(tc, a_copy_takes_its_originals_notes_at_any_number);
	tcase_add_test(tc, a_number_with_no_note_was_connected_as_far_as_the_shim_knows);
	tcase_add_test(tc, threads_that_map_one_page_at_once_get_the_same_one);
	tcase_add_test(tc, a_placeholder_is_a_marked_tcp_socket_never_bound);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(lib_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
