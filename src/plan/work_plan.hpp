// How a call is cut into work: units (whose statistics are independent), spatial tiles within a unit, and
// which algorithm AUTO means. Units and tiles depend on the shape (and, for grouped NCHW planes, on the kernel
// set, which does not change their bits), never on threads or scheduling, and the statistics of a unit are
// always merged tile by tile in order, so the result is the same for every thread count. How the tiles are
// spread over threads (the schedule) is decided here too.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/types.hpp"
#include "kernels/kernel_table.hpp"
#include "threading/parallel.hpp"

namespace varnorm::detail {

// Bytes of input a spatial tile spans: 128 KiB, half of a small L2, large enough that per-tile overhead is noise.
inline constexpr std::int64_t kTileBytes = std::int64_t{128} << 10;
inline constexpr std::int64_t kTileElements = kTileBytes / std::int64_t{sizeof(input_element)};
static_assert(kTileElements <= kMaxBlockPositions, "a tile of one channel must be a block the kernels accept");

// A call on one thread whose arrays (inputs and output) span at least this many bytes writes its output with
// non-temporal stores, skipping the write-allocate read of the output: a third (forward) or a quarter (backward)
// of the traffic. Half of 3/4 of a 32 MiB L3 (glibc's memcpy streams from 3/4 of the shared cache): a training
// step runs a layer's forward and backward back to back over x, y, dy and dx, up to twice one call's arrays, and
// those no longer stay in cache (bench/README.md, "Streaming stores"). A call on several threads streams from
// 48 MiB: there, regular stores stay the faster over a larger footprint (measured on two threads).
inline constexpr std::int64_t kStreamFootprintBytes = std::int64_t{12} << 20;
inline constexpr std::int64_t kThreadsStreamFootprintBytes = std::int64_t{48} << 20;

// NCHW planes small enough for the kernels to walk side by side (kernel_table::row_sharing_plane_positions) are
// taken up to kPlanesPerGroup to a unit, one block with a plane stride, as long as the group's inputs span at
// most kGroupBytes (so that the second sweep still finds them in L1). What a unit costs beyond its arithmetic
// is then paid once per group, and the statistics of the group's planes run side by side. Every plane still
// gets the bits it gets alone.
// As many as a unit's per-channel arrays hold: the per-unit cost then falls on up to 64 planes of 4x4 or 8x8.
inline constexpr int kPlanesPerGroup = kMaxGroupChannels;
inline constexpr std::int64_t kGroupBytes = std::int64_t{16} << 10;
inline constexpr std::int64_t kGroupElements = kGroupBytes / std::int64_t{sizeof(input_element)};

// A unit (or pair of units, walked abreast) that spans from kReversedOutputMinBytes to kReversedOutputMaxBytes
// of each input array writes its output tiles last first, finding in L2 the tiles its statistics sweep read last.
// Below that range the unit stays in L2 anyway, and in order its output sweep ends where the next unit begins,
// which the prefetchers are already fetching; above it little is left in L2 and every tile restarts the
// prefetchers' streams (bench/README.md, "Work split and plane groups").
inline constexpr std::int64_t kReversedOutputMinBytes = std::int64_t{512} << 10;
inline constexpr std::int64_t kReversedOutputMaxBytes = std::int64_t{2} << 20;

// See work_plan::interleaved_pair_output: the x of a pair's walk in L2.
inline constexpr std::int64_t kInterleavedPairMaxBytes = std::int64_t{1} << 20;

enum class direction { forward, backward };

// Below this many elements a call stays on the calling thread: waking workers costs more than it saves.
inline constexpr std::int64_t kParallelMinElements = std::int64_t{1} << 17;
// The same below this many when the pool is cold (no call with a thread budget ended in the last
// kPoolWarmMicroseconds): its workers sleep or serve another arena, and below about 1M values two threads that
// must first wake one are slower than the caller alone (bench/README.md, "Threads after idle and after another
// arena").
inline constexpr std::int64_t kColdPoolParallelMinElements = std::int64_t{1} << 20;

// Channels are cut into keys (the channels one block covers) and keys into spans (the keys whose statistics
// groups must be finished together). A key holds whole statistics groups, or a group holds whole keys; so a span
// is one key holding whole groups, or the keys of one group.
struct work_plan {
  // A unit is one (sample, span): NCHW: the plane (n, c), a group of small planes of sample n, or the planes of
  // a statistics group; NHWC: channel group g of sample n, or the channel groups of a statistics group.
  std::int64_t samples = 0;
  std::int64_t keys = 0;            // planes or plane groups (NCHW), channel groups (NHWC) per sample
  int group_channels = 1;           // channels per key: NHWC group or NCHW plane group (the last may have fewer)
  std::int64_t keys_per_span = 1;   // 1, or the keys of one statistics group
  std::int64_t tile_positions = 0;  // spatial positions per tile
  std::int64_t tiles = 0;           // tiles per key
  varnorm_algorithm algorithm = VARNORM_ALGORITHM_TWO_PASS;  // AUTO resolved
  bool reversed_output = false;                              // see kReversedOutputMinBytes
  // NHWC units of one sample that span several tiles are walked two abreast (a unit's channel groups lie side by
  // side in every row, so the second finds the rows the first brought into cache): consecutive units of a
  // sample from its first on, a sample's last unit of an odd count alone. Backward pairs spans of one key each of
  // more than half of kMaxGroupChannels channels, so that each span's dalpha / dbeta is a block of its own.
  bool paired_units = false;
  // Forward pairs that cover part of a row (C > 2 * group_channels) and whose x fits kInterleavedPairMaxBytes
  // write a streamed y kPairedStreamPositions positions at a time, the two units in turn, rather than a tile at a
  // time: tile by tile, each unit's non-temporal stores leave a third or less of every row, which streams slower
  // than whole stretches of rows. Larger pairs, pairs that cover whole rows, and backward (dx) ran slower or no
  // faster so (bench/README.md, "Streaming stores").
  bool interleaved_pair_output = false;
  std::int64_t walk_bytes = 0;  // of each input array, read by one walk: a unit, or a pair of them
  std::int64_t inputs = 1;      // input arrays: x, or x and dy
  // NCHW statistics groups of several planes that fit a tile: a group's planes are adjacent in memory, so its
  // statistics are taken over them as one plane (per-plane costs paid once per group), a block per unit
  // (group_planes_block). Decided by the problem alone, so forward and backward get the same statistics.
  bool group_planes = false;
  // Units the kernel set computes in one call (one_call_block). Forward (kernel_table::unit_forward): units of one
  // tile whose channels are each their own statistics group (VarianceNorm2d, InstanceNorm). Backward from saved
  // statistics (kernel_table::unit_backward; with centring, exec checks first that no group takes shifted sums):
  // units of one tile, and NCHW statistics groups of several planes of one tile each (GroupNorm).
  bool one_call_units = false;

  std::int64_t spans() const noexcept { return keys / keys_per_span; }
  std::int64_t units() const noexcept { return samples * spans(); }
  std::int64_t unit_tiles() const noexcept { return keys_per_span * tiles; }  // key by key, tiles in order
  // Whether walks take two units abreast: paired_units, and a sample of more than one span.
  bool walks_pairs() const noexcept { return paired_units && spans() > 1; }
  // The tile the i-th step of a unit's output sweep writes (reversed_output: last first). Every tile's output
  // depends on the unit's statistics alone, so the order changes no bit.
  std::int64_t output_tile(std::int64_t i) const noexcept { return reversed_output ? unit_tiles() - 1 - i : i; }
};

work_plan make_work_plan(const problem& p, direction d, const kernel_table& kernels) noexcept;

// Channels of key `key` of a sample: group_channels, or fewer for a last key that C does not fill.
inline int key_channels(const work_plan& w, const problem& p, std::int64_t key) noexcept {
  return static_cast<int>(std::min<std::int64_t>(w.group_channels, p.c - key * w.group_channels));
}

// Units are numbered span-major (u = span * samples + sample), the order in which per-channel reductions over
// the batch (dalpha, dbeta) are accumulated.
struct unit_index {
  std::int64_t sample;
  std::int64_t span;
};
inline unit_index unit_at(const work_plan& w, std::int64_t u) noexcept { return {u % w.samples, u / w.samples}; }

// The unit that is i-th in memory order (sample-major), for passes with no reduction across samples: their
// consecutive units are then adjacent in memory, which hardware prefetchers follow.
inline std::int64_t unit_in_memory_order(const work_plan& w, std::int64_t i) noexcept {
  const std::int64_t spans = w.spans();
  return (i % spans) * w.samples + i / spans;
}

// Whether the unit after the i-th in memory order, if before `end`, is the next unit of the same sample.
inline bool next_in_sample(const work_plan& w, std::int64_t i, std::int64_t end) noexcept {
  return i + 1 < end && i % w.spans() + 1 < w.spans();
}

// Tasks over the units in memory order for threads to share. With paired_units (as next_in_sample pairs them from
// a sample's first unit on), a task is such a pair, or a sample's last unit alone, so that no split parts a pair;
// otherwise a task is a unit.
std::int64_t unit_task_count(const work_plan& w) noexcept;
// Memory-order units [begin, end) of tasks [first_task, end_task): consecutive tasks are adjacent units.
struct unit_range {
  std::int64_t begin;
  std::int64_t end;
};
unit_range unit_task_range(const work_plan& w, std::int64_t first_task, std::int64_t end_task) noexcept;

// The statistics groups of unit u: groups [first, first + count) of its sample.
struct unit_groups {
  std::int64_t first;
  int count;
};
unit_groups groups_of(const work_plan& w, const problem& p, std::int64_t u) noexcept;

// The i-th (unit, tile) task when the tiles of all units are spread over threads, in the order their data lies
// in memory: sample by sample; then NCHW plane by plane, tile by tile; NHWC tile by tile (a range of rows),
// channel group by group. Threads then take contiguous memory; in unit order, the NHWC channel groups of a
// sample would put two threads on the same rows, in neighbouring cache lines.
struct unit_tile {
  std::int64_t unit;
  std::int64_t tile;
};
unit_tile split_task_at(const work_plan& w, const problem& p, std::int64_t i) noexcept;

// The block of tile t of unit u (0 <= t < unit_tiles()), and the offset of its first element in x (and y, dy, dx).
struct tile_block {
  std::int64_t offset;
  block_shape shape;
  std::int64_t first_channel;  // global channel index of the block's channel 0
  std::int64_t key;            // the key (of its sample) the block covers
};
tile_block tile_at(const work_plan& w, const problem& p, std::int64_t u, std::int64_t t) noexcept;

// Positions [first, first + count) of block tb, as a block of their own.
inline tile_block positions_of(const tile_block& tb, std::int64_t first, std::int64_t count) noexcept {
  tile_block b = tb;
  b.offset += tb.shape.element(first, 0);
  b.shape.positions = count;
  return b;
}

// With interleaved_pair_output, a streamed output is written this many positions at a time, the two units in turn.
inline constexpr std::int64_t kPairedStreamPositions = 32;

// With group_planes: unit u's values as one plane per statistics group (the block's channels are its groups).
tile_block group_planes_block(const work_plan& w, const problem& p, std::int64_t u) noexcept;

// With one_call_units, unit u as one block: its tile, or the planes of its statistics group (keys_per_span > 1).
tile_block one_call_block(const work_plan& w, const problem& p, std::int64_t u) noexcept;

// Threads take unit tasks in chunks of up to kTaskBytes of input (TBB splits a range down to between half and all
// of the grain): a task of one small plane costs TBB about as much as its own work. The grain still leaves
// kTasksPerThread chunks or more per thread, to balance a worker that joins late.
inline constexpr std::int64_t kTaskBytes = std::int64_t{64} << 10;
inline constexpr std::int64_t kTasksPerThread = 4;

// Units that span at most this many bytes of each input array, as many as the threads or a multiple of them, are
// taken whole rather than spread tile by tile: the call then waits on one fork-join instead of two, and each
// unit's output sweep finds its input in the L2 that read it. Larger units spread better (bench/README.md, "Work
// split and plane groups").
inline constexpr std::int64_t kWholeUnitMaxBytes = std::int64_t{1} << 20;

// A call takes at most one thread per this many values: below, a thread's share costs less than the fork and join
// it adds (a quarter of kParallelMinElements, so a call at the cut-off takes up to four). bench/README.md,
// "Threads on 16 cores".
inline constexpr std::int64_t kValuesPerThread = std::int64_t{32} << 10;
static_assert(kParallelMinElements >= 2 * kValuesPerThread, "a call above the cut-off takes two threads or more");

// A call whose arrays span at most this many bytes a thread goes to threads in fixed shares (threading's
// shares::fixed): its data stays in the caches between its two passes and between calls, and each thread then
// finds its share of x, and the lines of y it writes, in its own core's L2, where balanced shares would hand each
// call's ranges to whichever thread comes. Larger calls stream from memory, where balanced shares keep threads
// busy (they need not run at the same speed: the vCPUs of a VM). Every call that kValuesPerThread limits is in
// fixed shares: it spans at most 12 bytes a value.
inline constexpr std::int64_t kFixedSharesBytesPerThread = std::int64_t{1} << 20;
// Spread tiles of paired NHWC units also go in fixed shares in a call whose arrays span at most this many bytes in
// all (measured on two threads; bench/README.md, "Streaming stores"); spread NCHW planes, whose last tiles are
// short, only under kFixedSharesBytesPerThread.
inline constexpr std::int64_t kFixedSharesMaxBytes = std::int64_t{8} << 20;

struct schedule {
  int threads = 1;                        // 1: everything on the calling thread
  bool split_tiles = false;               // spread the tiles of each unit over threads (few, large units)
  shares task_shares = shares::balanced;  // how threads share the unit tasks or spread tiles
  bool uses_pool = false;       // had a thread budget above 1 (even if the pool was cold): its end keeps it warm
  std::int64_t task_grain = 1;  // unit tasks a thread takes at a time (see kTaskBytes)
  bool stream_output = false;   // write the output with non-temporal stores (kStreamFootprintBytes)
};
// Asks the threading layer for a thread budget, and `pool_warm` whether the pool is warm, only for calls that
// may go parallel, so that small calls and max_threads = 1 never touch TBB or the clock (the real-time path).
schedule choose_schedule(const work_plan& w, const problem& p,
                         bool (*pool_warm)() noexcept = pool_recently_called) noexcept;

}  // namespace varnorm::detail
