/* check_stack.c - runs the unit suites of the protocol core. */
#include <check.h>
#include <stdlib.h>

Suite *eth_suite(void);
Suite *arp_suite(void);
Suite *ipv4_suite(void);
Suite *icmp_suite(void);
Suite *timer_suite(void);
Suite *timewait_suite(void);
Suite *loopback_suite(void);

int main(void)
{
	SRunner *sr = srunner_create(eth_suite());
	srunner_add_suite(sr, arp_suite());
	srunner_add_suite(sr, ipv4_suite());
	srunner_add_suite(sr, icmp_suite());
	srunner_add_suite(sr, timer_suite());
	srunner_add_suite(sr, timewait_suite());
	srunner_add_suite(sr, loopback_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
