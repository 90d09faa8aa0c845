/* fault.c - fault injection on the tap path; see fault.h. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#include "fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct held_frame {
	struct held_frame *next;
	uint64_t release_at;
	bool reordered; /* goes as soon as the next frame has passed */
	struct tn_frame_meta meta;
	size_t len;
	uint8_t data[];
};

struct fault_queue {
	struct held_frame *head, *tail; /* release_at never decreases from head to tail */
	uint32_t count;
	uint8_t *scratch; /* a corrupted frame, while it is passed on */
	size_t scratch_cap;
};

struct fault {
	struct fault_config cfg;
	fault_deliver_fn deliver;
	void *ctx;
	uint64_t *counters;
	uint64_t rng[2];         /* one sequence per direction: what happens to rx does not depend on tx */
	struct fault_queue q[2]; /* enum fault_dir */
};

static const enum fault_counter counter_of[2][5] = {
	[FAULT_RX] = { FAULT_CTR_FaultRxDrops, FAULT_CTR_FaultRxCorrupts, FAULT_CTR_FaultRxDups,
		       FAULT_CTR_FaultRxReorders, FAULT_CTR_FaultRxDelays },
	[FAULT_TX] = { FAULT_CTR_FaultTxDrops, FAULT_CTR_FaultTxCorrupts, FAULT_CTR_FaultTxDups,
		       FAULT_CTR_FaultTxReorders, FAULT_CTR_FaultTxDelays },
};
enum { K_DROP, K_CORRUPT, K_DUP, K_REORDER, K_DELAY };

static void count(struct fault *f, enum fault_dir dir, int kind)
{
	f->counters[counter_of[dir][kind]]++;
}

/* splitmix64: small, fast, and the same sequence for the same seed everywhere. */
static uint64_t next_random(struct fault *f, enum fault_dir dir)
{
	uint64_t z = (f->rng[dir] += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* A rate of 0 takes no random number, so turning one fault on does not reshuffle the others. */
static bool happens(struct fault *f, enum fault_dir dir, uint32_t ppm)
{
	return ppm && next_random(f, dir) % FAULT_PPM < ppm;
}

bool fault_config_active(const struct fault_config *cfg)
{
	for (int d = 0; d < 2; d++) {
		const struct fault_rates *r = &cfg->dir[d];
		if (r->drop || r->corrupt || r->duplicate || r->reorder || r->delay)
			return true;
	}
	return false;
}

static int describe_rates(char *buf, size_t cap, const char *name, const struct fault_rates *r)
{
	return snprintf(buf, cap, "%s drop %u.%04u%% corrupt %u.%04u%% duplicate %u.%04u%% "
			"reorder %u.%04u%% delay %u.%04u%%", name,
			r->drop / 10000, r->drop % 10000, r->corrupt / 10000, r->corrupt % 10000,
			r->duplicate / 10000, r->duplicate % 10000, r->reorder / 10000,
			r->reorder % 10000, r->delay / 10000, r->delay % 10000);
}

void fault_describe(const struct fault_config *cfg, char *buf, size_t cap)
{
	int n = describe_rates(buf, cap, "rx", &cfg->dir[FAULT_RX]);
	if (n < 0 || (size_t)n >= cap)
		return;
	int m = describe_rates(buf + n, cap - (size_t)n, "; tx", &cfg->dir[FAULT_TX]);
	if (m < 0 || (size_t)(n + m) >= cap)
		return;
	snprintf(buf + n + m, cap - (size_t)(n + m), "; delay %ums, at most %u frames held per "
		 "direction, seed %llu", cfg->delay_ms, cfg->max_held, (unsigned long long)cfg->seed);
}

struct fault *fault_new(const struct fault_config *cfg, fault_deliver_fn deliver, void *ctx,
			uint64_t *counters)
{
	struct fault *f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->cfg = *cfg;
	f->deliver = deliver;
	f->ctx = ctx;
	f->counters = counters;
	f->rng[FAULT_RX] = cfg->seed;
	f->rng[FAULT_TX] = cfg->seed ^ 0xd1b54a32d192ed03ull;
	return f;
}

static void free_queue(struct fault *f, struct fault_queue *q)
{
	while (q->head) {
		struct held_frame *h = q->head;
		q->head = h->next;
		free(h);
		f->counters[FAULT_CTR_FaultHeld]--;
	}
	q->tail = NULL;
	q->count = 0;
	free(q->scratch);
	q->scratch = NULL;
}

void fault_free(struct fault *f)
{
	if (!f)
		return;
	free_queue(f, &f->q[FAULT_RX]);
	free_queue(f, &f->q[FAULT_TX]);
	free(f);
}

/* Holds a copy of the frame; false when the queue is full or memory is short. */
static bool hold(struct fault *f, enum fault_dir dir, uint64_t release_at, bool reordered,
		 const struct tn_frame_meta *meta, const void *frame, size_t len)
{
	struct fault_queue *q = &f->q[dir];
	if (q->count >= f->cfg.max_held)
		return false;
	struct held_frame *h = malloc(sizeof(*h) + len);
	if (!h)
		return false;
	h->next = NULL;
	h->release_at = release_at;
	h->reordered = reordered;
	h->meta = *meta;
	h->len = len;
	memcpy(h->data, frame, len);
	if (q->tail)
		q->tail->next = h;
	else
		q->head = h;
	q->tail = h;
	q->count++;
	f->counters[FAULT_CTR_FaultHeld]++;
	return true;
}

static void unlink_held(struct fault *f, struct fault_queue *q, struct held_frame *prev,
			struct held_frame *h)
{
	if (prev)
		prev->next = h->next;
	else
		q->head = h->next;
	if (q->tail == h)
		q->tail = prev;
	q->count--;
	f->counters[FAULT_CTR_FaultHeld]--;
}

/* Passes on every frame held for reordering: the frame they waited for has gone. */
static void release_reordered(struct fault *f, enum fault_dir dir)
{
	struct fault_queue *q = &f->q[dir];
	struct held_frame *go = NULL, **go_tail = &go;

	/* Unlinked first: passing a frame on may bring another into the other queue. */
	for (struct held_frame *prev = NULL, *h = q->head; h;) {
		struct held_frame *next = h->next;
		if (h->reordered) {
			unlink_held(f, q, prev, h);
			h->next = NULL;
			*go_tail = h;
			go_tail = &h->next;
		} else {
			prev = h;
		}
		h = next;
	}
	while (go) {
		struct held_frame *h = go;
		go = h->next;
		f->deliver(f->ctx, dir, &h->meta, h->data, h->len);
		free(h);
	}
}

/* A copy of the frame with one bit flipped, the checksums made checkable; NULL: drop it. */
static const uint8_t *corrupt(struct fault *f, enum fault_dir dir, struct tn_frame_meta *meta,
			      const void *frame, size_t len)
{
	struct fault_queue *q = &f->q[dir];

	if (len == 0 || (dir == FAULT_TX && meta->gso_type != TN_GSO_NONE))
		return NULL;
	if (q->scratch_cap < len) {
		uint8_t *p = realloc(q->scratch, len);
		if (!p)
			return NULL;
		q->scratch = p;
		q->scratch_cap = len;
	}
	memcpy(q->scratch, frame, len);
	if (!tn_frame_csum_complete(meta, q->scratch, len))
		return NULL;
	meta->flags &= (uint8_t)~TN_FRAME_CSUM_VALID;
	uint64_t r = next_random(f, dir);
	q->scratch[(r >> 3) % len] ^= (uint8_t)(1u << (r & 7));
	return q->scratch;
}

void fault_frame(struct fault *f, enum fault_dir dir, uint64_t now_ns,
		 const struct tn_frame_meta *meta_in, const void *frame, size_t len)
{
	const struct fault_rates *r = &f->cfg.dir[dir];
	struct tn_frame_meta meta = *meta_in;

	if (happens(f, dir, r->drop)) {
		count(f, dir, K_DROP);
		return;
	}
	if (happens(f, dir, r->corrupt)) {
		count(f, dir, K_CORRUPT);
		frame = corrupt(f, dir, &meta, frame, len);
		if (!frame)
			return;
	}
	int copies = 1;
	if (happens(f, dir, r->duplicate)) {
		count(f, dir, K_DUP);
		copies = 2;
	}
	uint64_t release_at = now_ns + (uint64_t)f->cfg.delay_ms * TN_NSEC_PER_MSEC;
	for (int i = 0; i < copies; i++) {
		bool reorder = happens(f, dir, r->reorder);
		bool delay = !reorder && happens(f, dir, r->delay);
		if (reorder || delay) {
			if (hold(f, dir, release_at, reorder, &meta, frame, len)) {
				count(f, dir, reorder ? K_REORDER : K_DELAY);
				continue;
			}
			f->counters[FAULT_CTR_FaultHeldOverflows]++;
		}
		f->deliver(f->ctx, dir, &meta, frame, len);
		release_reordered(f, dir);
	}
}

uint64_t fault_next_deadline(const struct fault *f)
{
	uint64_t at = TN_TIME_NEVER;
	for (int d = 0; d < 2; d++)
		if (f->q[d].head && f->q[d].head->release_at < at)
			at = f->q[d].head->release_at;
	return at;
}

void fault_run(struct fault *f, uint64_t now_ns)
{
	for (int d = 0; d < 2; d++) {
		struct fault_queue *q = &f->q[d];
		while (q->head && q->head->release_at <= now_ns) {
			struct held_frame *h = q->head;
			unlink_held(f, q, NULL, h);
			f->deliver(f->ctx, (enum fault_dir)d, &h->meta, h->data, h->len);
			free(h);
		}
	}
}
