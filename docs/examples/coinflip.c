/*
 * coinflip-v1: a complete cartridge in C, written from docs/abi.md alone.
 *
 * One player guesses ten seeded coin flips. The generator lives in the state bytes, so
 * `cartridge_step` is a pure function of (state, action) and a stateless Step replays exactly.
 *
 * Build (Debian: apt-get install clang lld):
 *   clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export-dynamic \
 *     -Wl,--max-memory=1048576 -o coinflip-v1.wasm coinflip.c
 * Check:
 *   npm run cartridge -- validate coinflip-v1.wasm
 *
 * State (16 bytes): u64 generator state, u32 flips done (0..10), u32 last flip (0 heads, 1 tails,
 * 2 none yet). Action: u32 guess, 0 heads or 1 tails. Observation (3 x f32): last flip one-hot
 * (heads, tails), then flips done / 10. Reward: +1 for a right guess, -1 for a wrong one.
 */
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))

enum { OK = 0, MALFORMED_STATE = 2, MALFORMED_ACTION = 3, EPISODE_OVER = 4, BAD_ARGUMENT = 6 };
enum { STATE_BYTES = 16, ACTION_BYTES = 4, OBS_BYTES = 12, INFO_BYTES = 12, HORIZON = 10 };
enum { EXCHANGE_BYTES = 65536 };

static const char MANIFEST[] =
    "{\"abi_version\":1,\"env_id\":\"coinflip-v1\",\"version\":\"1.0.0\","
    "\"description\":\"Guess ten seeded coin flips (a C cartridge).\","
    "\"encoding\":{\"state\":\"coinflip_state:v1\",\"action\":\"discrete:v1\","
    "\"obs\":\"f32x3:v1\",\"schema_version\":1},"
    "\"action_space\":{\"discrete\":{\"n\":2}},"
    "\"observation\":{\"dtype\":\"f32\",\"shape\":[3]},"
    "\"players\":1,\"max_horizon\":10,\"preferred_batch\":64,"
    "\"state_bytes\":16,\"action_bytes\":4,\"obs_bytes\":12,\"hint_max_bytes\":0}";

static uint8_t exchange[EXCHANGE_BYTES] __attribute__((aligned(16)));

typedef struct {
  uint64_t rng;
  uint32_t flips;
  uint32_t last;
} State;

/* SplitMix64: small, well known, and deterministic on every machine. */
static uint64_t next_u64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void copy(uint8_t *to, const uint8_t *from, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) to[i] = from[i];
}

static uint32_t read_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The state is read and written byte by byte, so its layout never depends on the compiler. */
static int decode_state(const uint8_t *p, State *s) {
  s->rng = (uint64_t)read_u32(p) | (uint64_t)read_u32(p + 4) << 32;
  s->flips = read_u32(p + 8);
  s->last = read_u32(p + 12);
  if (s->flips > HORIZON || s->last > 2 || (s->flips == 0) != (s->last == 2)) return MALFORMED_STATE;
  return OK;
}

static void write_u32(uint8_t *p, uint32_t v) {
  p[0] = v; p[1] = v >> 8; p[2] = v >> 16; p[3] = v >> 24;
}

static void encode(const State *s, uint8_t *state_out, uint8_t *obs_out) {
  write_u32(state_out, (uint32_t)s->rng);
  write_u32(state_out + 4, (uint32_t)(s->rng >> 32));
  write_u32(state_out + 8, s->flips);
  write_u32(state_out + 12, s->last);
  float obs[3] = {s->last == 0 ? 1.0f : 0.0f, s->last == 1 ? 1.0f : 0.0f, s->flips / (float)HORIZON};
  copy(obs_out, (const uint8_t *)obs, OBS_BYTES);
}

static void write_info(uint8_t *info, float reward, int over, uint8_t status) {
  copy(info, (const uint8_t *)&reward, 4);
  info[4] = 0;                     /* terminated: the game has no rule that ends it early */
  info[5] = over ? 1 : 0;          /* truncated: the horizon ends every episode */
  info[6] = over ? (uint8_t)-1 : 0; /* current player */
  info[7] = status;
  copy(info + 8, (const uint8_t *)&reward, 4); /* per-player rewards: one player */
}

EXPORT("cartridge_abi_version") int32_t abi_version(void) { return 1; }
EXPORT("cartridge_manifest_ptr") int32_t manifest_ptr(void) { return (int32_t)MANIFEST; }
EXPORT("cartridge_manifest_len") int32_t manifest_len(void) { return sizeof MANIFEST - 1; }
EXPORT("cartridge_exchange_ptr") int32_t exchange_ptr(void) { return (int32_t)exchange; }
EXPORT("cartridge_exchange_len") int32_t exchange_len(void) { return EXCHANGE_BYTES; }

EXPORT("cartridge_reset")
int32_t reset(uint64_t seed, uint8_t *hint, int32_t hint_len, uint8_t *state_out, uint8_t *obs_out,
              uint8_t *info_out) {
  (void)hint;
  if (hint_len != 0) return 5; /* MALFORMED_HINT: this game takes none */
  State s = {seed, 0, 2};
  encode(&s, state_out, obs_out);
  write_info(info_out, 0.0f, 0, OK);
  return OK;
}

static int32_t step_one(const uint8_t *state_in, const uint8_t *action_in, uint8_t *state_out,
                        uint8_t *obs_out, uint8_t *info_out) {
  State s;
  int status = decode_state(state_in, &s);
  if (status != OK) return status;
  if (s.flips == HORIZON) return EPISODE_OVER;
  uint32_t guess = read_u32(action_in);
  if (guess > 1) return MALFORMED_ACTION;
  uint32_t flip = (uint32_t)(next_u64(&s.rng) >> 63);
  s.flips += 1;
  s.last = flip;
  encode(&s, state_out, obs_out);
  write_info(info_out, guess == flip ? 1.0f : -1.0f, s.flips == HORIZON, OK);
  return OK;
}

EXPORT("cartridge_step")
int32_t step(uint8_t *state_in, uint8_t *action_in, uint8_t *state_out, uint8_t *obs_out,
             uint8_t *info_out) {
  return step_one(state_in, action_in, state_out, obs_out, info_out);
}

EXPORT("cartridge_step_batch")
int32_t step_batch(int32_t count, uint8_t *states_in, uint8_t *actions_in, uint8_t *states_out,
                   uint8_t *obs_out, uint8_t *infos_out) {
  if (count <= 0) return BAD_ARGUMENT;
  for (int32_t i = 0; i < count; i++) {
    uint8_t *in = states_in + i * STATE_BYTES, *out = states_out + i * STATE_BYTES;
    uint8_t *info = infos_out + i * INFO_BYTES;
    int32_t status = step_one(in, actions_in + i * ACTION_BYTES, out, obs_out + i * OBS_BYTES, info);
    if (status != OK) {
      if (out != in) copy(out, in, STATE_BYTES);
      write_info(info, 0.0f, 0, (uint8_t)status);
    }
  }
  return OK;
}

EXPORT("cartridge_legal_actions")
int32_t legal_actions(uint8_t *state_in, uint8_t *mask_out) {
  State s;
  int status = decode_state(state_in, &s);
  if (status != OK) return status;
  mask_out[0] = mask_out[1] = s.flips < HORIZON;
  return OK;
}

EXPORT("cartridge_rollout")
int32_t rollout(uint64_t seed, int32_t step_cap, int32_t flags, uint8_t *actions_out,
                uint8_t *states_out, uint8_t *obs_out, uint8_t *infos_out) {
  if (step_cap < 0 || (flags & ~1) != 0) return -BAD_ARGUMENT;
  uint8_t state[STATE_BYTES], obs[OBS_BYTES], info[INFO_BYTES];
  reset(seed, 0, 0, state, obs, info);
  /* The policy's generator: seeded from the same seed, on a stream distinct from the game's. */
  uint64_t policy = seed ^ 0xD1B54A32D192ED03ull;
  int32_t t = 0;
  for (; t < step_cap; t++) {
    uint8_t *action = actions_out + t * ACTION_BYTES;
    write_u32(action, (uint32_t)(next_u64(&policy) >> 63));
    uint8_t *obs_slot = (flags & 1) ? obs_out + t * OBS_BYTES : obs;
    int32_t status = step_one(state, action, state, obs_slot, infos_out + t * INFO_BYTES);
    if (status != OK) return -status;
    copy(states_out + t * STATE_BYTES, state, STATE_BYTES);
    if (infos_out[t * INFO_BYTES + 5]) return t + 1;
  }
  return t;
}
