//! A hierarchical timing wheel: the per-core store of pending timers.
//!
//! Six levels of 64 slots over integer ticks. A slot of level `n` spans `64^n`
//! ticks, so the levels together cover `64^6` ticks (about 2.2 years at 1 ms a
//! tick) past the wheel's clock. This is the layout of tokio's
//! `runtime/time/wheel` and of Linux's `kernel/time/timer.c`, after Varghese
//! and Lauck's hierarchical timing wheels: a timer goes to the level of the
//! highest 6-bit group in which its tick differs from the clock, and when the
//! clock reaches a slot of a higher level its timers cascade into lower ones.
//!
//! Entries live in one `Vec` with a free list (a slab). Each slot is a doubly
//! linked list threaded through the entries by index, so insert and cancel are
//! O(1), and firing costs at most one cascade per level per timer. A key carries
//! the entry's generation, bumped on every release, so a stale key never reaches
//! a newer timer that reuses the slot.
//!
//! The storage never ends in a vacant entry: releasing the last entry pops it
//! and every vacant one before it (the free list is doubly linked too, so
//! that is O(1) per entry), and the capacity shrinks as a `Vec` grows, once
//! three quarters of it are unused. An empty wheel holds at most
//! `KEEP_CAPACITY` entries' worth of memory.
//!
//! Ticks past the wheel's range go to the top level's slot for their tick
//! modulo the top level's span; that slot comes round before the deadline, and
//! the timer is cascaded (back into the top level if still out of range) rather
//! than fired. Any `u64` tick is accepted.

use std::fmt;

/// Bits of a tick that select the slot within one level.
const LEVEL_BITS: u32 = 6;
/// Slots per level.
const SLOTS: usize = 1 << LEVEL_BITS;
/// Levels of the wheel.
const LEVELS: usize = 6;
/// The largest distance from the clock that a timer's level stands for; more
/// distant timers are put in the top level and cascaded when their slot is due.
const MAX_SPAN: u64 = (1 << (LEVEL_BITS * LEVELS as u32)) - 1;
/// The list of timers that are due and not yet handed out by `poll`.
const PENDING: u16 = (LEVELS * SLOTS) as u16;
/// The `list` of an entry on the free list.
const VACANT: u16 = u16::MAX;
/// The end of a list.
const NIL: u32 = u32::MAX;
/// Storage capacity (in entries) that is never handed back, so that a wheel
/// going from empty to a few timers and back does not reallocate.
const KEEP_CAPACITY: usize = 1024;

/// Identifies a timer in a [`Wheel`]: its index and its generation.
///
/// A key outlives its timer harmlessly: once the timer fired or was cancelled,
/// the key matches nothing, even after its slot was reused (until the slot's
/// 32-bit generation wraps, after 2^32 reuses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TimerKey(u64);

impl TimerKey {
    fn new(index: u32, generation: u32) -> Self {
        TimerKey(u64::from(generation) << 32 | u64::from(index))
    }

    fn index(self) -> usize {
        self.0 as u32 as usize
    }

    fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

struct Entry<T> {
    /// The tick at which the timer is due.
    when: u64,
    /// `None` exactly while the entry is on the free list.
    value: Option<T>,
    /// The neighbours in its slot's list, or on the free list.
    prev: u32,
    next: u32,
    /// Bumped on every release, so that old keys stop matching.
    generation: u32,
    /// `level * SLOTS + slot`, [`PENDING`] or [`VACANT`].
    list: u16,
}

#[derive(Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
    };
}

/// The next slot to come due: its level, its slot, its first tick, and the
/// tick at which it is due (at or after its start, at or before its timers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expiration {
    level: usize,
    slot: usize,
    start: u64,
    deadline: u64,
}

/// A hierarchical timing wheel holding a `T` per timer; see the module docs.
pub(crate) struct Wheel<T> {
    /// The wheel's clock: every timer due at or before it has been moved to
    /// the pending list.
    elapsed: u64,
    entries: Vec<Entry<T>>,
    /// The vacant entries, all but the last one of `entries`.
    free: List,
    len: usize,
    /// Above every generation a released entry ever had, so that an entry
    /// created after the storage shrank cannot match an old key.
    fresh_generation: u32,
    /// The slot lists, level by level, then the pending list.
    lists: Box<[List]>,
    /// Bit `s` of `occupied[l]` is set when slot `s` of level `l` is non-empty.
    occupied: [u64; LEVELS],
    /// A lower bound of the ticks in each slot (`u64::MAX` when empty): the
    /// earliest ever filed there since it was last empty. Removals leave it
    /// alone, so it may be low, never high.
    slot_min: Box<[u64]>,
}

impl<T> Wheel<T> {
    /// An empty wheel whose clock reads tick 0.
    pub(crate) fn new() -> Self {
        Wheel {
            elapsed: 0,
            entries: Vec::new(),
            free: List::EMPTY,
            len: 0,
            fresh_generation: 0,
            lists: vec![List::EMPTY; LEVELS * SLOTS + 1].into_boxed_slice(),
            slot_min: vec![u64::MAX; LEVELS * SLOTS].into_boxed_slice(),
            occupied: [0; LEVELS],
        }
    }

    /// The number of timers held, pending ones included.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The wheel's clock: the latest tick passed to [`poll`](Self::poll).
    #[cfg(test)]
    pub(crate) fn elapsed(&self) -> u64 {
        self.elapsed
    }

    /// How many entries the storage holds room for.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    /// Adds a timer due at tick `when`. A tick not after the clock is due at
    /// once: the next [`poll`](Self::poll) hands it out.
    ///
    /// # Panics
    ///
    /// Panics if `u32::MAX - 1` timers are already held.
    pub(crate) fn insert(&mut self, when: u64, value: T) -> TimerKey {
        let index = match self.free.head {
            NIL => {
                let index = u32::try_from(self.entries.len())
                    .ok()
                    .filter(|&index| index != NIL)
                    .expect("a timer wheel holds fewer than 2^32 - 1 timers");
                self.entries.push(Entry {
                    when,
                    value: Some(value),
                    prev: NIL,
                    next: NIL,
                    generation: self.fresh_generation,
                    list: VACANT,
                });
                index
            }
            index => {
                self.unlink_free(index);
                let entry = &mut self.entries[index as usize];
                entry.when = when;
                entry.value = Some(value);
                index
            }
        };
        self.len += 1;
        self.link(index);
        TimerKey::new(index, self.entries[index as usize].generation)
    }

    /// Removes the timer of `key`, returning its value, or `None` if it has
    /// already fired or been removed.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<T> {
        let entry = self.entries.get(key.index())?;
        if entry.generation != key.generation() || entry.list == VACANT {
            return None;
        }
        let index = key.index() as u32;
        self.unlink(index);
        Some(self.release(index))
    }

    /// The value of the timer of `key`, or `None` if it has already fired or
    /// been removed.
    pub(crate) fn get_mut(&mut self, key: TimerKey) -> Option<&mut T> {
        let entry = self.entries.get_mut(key.index())?;
        if entry.generation != key.generation() {
            return None;
        }
        entry.value.as_mut()
    }

    /// The earliest tick at which [`poll`](Self::poll) has work to do, or
    /// `None` when the wheel is empty.
    ///
    /// It is never after the earliest timer's tick, and usually that very
    /// tick. It is earlier only after the earliest timer of an upper-level
    /// slot was removed, or for a timer beyond the wheel's range: `poll` then
    /// only cascades.
    pub(crate) fn next_expiration_tick(&self) -> Option<u64> {
        if self.lists[PENDING as usize].head != NIL {
            return Some(self.elapsed);
        }
        self.next_expiration().map(|expiration| expiration.deadline)
    }

    /// Advances the clock to `now` and hands out one timer due at or before
    /// it, or returns `None` once there is none left. Call it until `None`.
    ///
    /// A tick before the clock leaves the clock where it is.
    pub(crate) fn poll(&mut self, now: u64) -> Option<T> {
        loop {
            let head = self.lists[PENDING as usize].head;
            if head != NIL {
                self.unlink(head);
                return Some(self.release(head));
            }
            match self.next_expiration() {
                Some(expiration) if expiration.deadline <= now => {
                    self.process_expiration(expiration, expiration.deadline);
                }
                // The clock may not enter a slot that still holds timers:
                // cascade them, none is due yet.
                Some(expiration) if expiration.start <= now => {
                    self.process_expiration(expiration, now);
                }
                _ => {
                    self.elapsed = self.elapsed.max(now);
                    return None;
                }
            }
        }
    }

    /// Removes every timer, returning their values. The clock is kept, and no
    /// key handed out before matches a timer inserted after.
    pub(crate) fn clear(&mut self) -> Vec<T> {
        let mut values = Vec::with_capacity(self.len);
        for entry in &mut self.entries {
            self.fresh_generation = self.fresh_generation.max(entry.generation.wrapping_add(1));
            values.extend(entry.value.take());
        }
        self.entries = Vec::new();
        self.free = List::EMPTY;
        self.len = 0;
        self.lists.fill(List::EMPTY);
        self.slot_min.fill(u64::MAX);
        self.occupied = [0; LEVELS];
        values
    }

    /// The first slot, lowest level first, that comes due after the clock,
    /// and when.
    ///
    /// A non-empty level `l` only holds timers due before every timer of the
    /// levels above it, so the first non-empty level has the answer. Within
    /// it, slots come due in order from the one after the clock's. The
    /// clock's own slot comes last: below the top level it is empty, and in
    /// the top level it holds only timers beyond the range, due a turn later.
    ///
    /// A slot is due at its earliest timer's tick (or the lower bound kept of
    /// it), not at its start: a lone timer in an upper level then costs one
    /// wake-up instead of one per level. Any tick in the slot's range keeps
    /// the order, since every other slot starts after that range ends.
    fn next_expiration(&self) -> Option<Expiration> {
        let level = self.occupied.iter().position(|&occupied| occupied != 0)?;
        let shift = LEVEL_BITS * level as u32;
        let after_now = (self.elapsed >> shift).wrapping_add(1) as u32 % SLOTS as u32;
        let ahead = self.occupied[level]
            .rotate_right(after_now)
            .trailing_zeros();
        let slot = (after_now + ahead) as usize % SLOTS;
        let slot_range = 1u64 << shift;
        let level_range = slot_range << LEVEL_BITS;
        let level_start = self.elapsed & !(level_range - 1);
        let mut start = level_start + slot as u64 * slot_range;
        if start <= self.elapsed {
            // Only the top level wraps: a slot "behind" the clock there holds
            // timers beyond the wheel's range and comes due on the next turn.
            debug_assert_eq!(level, LEVELS - 1);
            start = start.saturating_add(level_range);
        }
        let end = start.saturating_add(slot_range - 1);
        Some(Expiration {
            level,
            slot,
            start,
            deadline: self.slot_min[level * SLOTS + slot].clamp(start, end),
        })
    }

    /// Moves the clock to tick `at` (in the slot's range, at or before its
    /// timers) and re-files each timer of `expiration`'s slot: due ones to
    /// the pending list, others one level down (or, beyond the range, back
    /// into the top level).
    fn process_expiration(&mut self, expiration: Expiration, at: u64) {
        debug_assert!(expiration.start <= at && at <= expiration.deadline);
        debug_assert!(at > self.elapsed);
        let list = expiration.level * SLOTS + expiration.slot;
        let mut index = self.lists[list].head;
        self.lists[list] = List::EMPTY;
        self.slot_min[list] = u64::MAX;
        self.occupied[expiration.level] &= !(1 << expiration.slot);
        self.elapsed = at;
        while index != NIL {
            let next = self.entries[index as usize].next;
            self.link(index);
            index = next;
        }
    }

    /// Files entry `index` by its tick: on the pending list when due, in its
    /// slot otherwise.
    fn link(&mut self, index: u32) {
        let when = self.entries[index as usize].when;
        let list = if when <= self.elapsed {
            PENDING
        } else {
            let level = level_for(self.elapsed, when);
            let slot = slot_for(when, level);
            self.occupied[level] |= 1 << slot;
            let list = level * SLOTS + slot;
            self.slot_min[list] = self.slot_min[list].min(when);
            list as u16
        };
        let tail = self.lists[list as usize].tail;
        let entry = &mut self.entries[index as usize];
        entry.list = list;
        entry.prev = tail;
        entry.next = NIL;
        match tail {
            NIL => self.lists[list as usize].head = index,
            tail => self.entries[tail as usize].next = index,
        }
        self.lists[list as usize].tail = index;
    }

    fn unlink(&mut self, index: u32) {
        let entry = &self.entries[index as usize];
        let (prev, next, list) = (entry.prev, entry.next, entry.list as usize);
        match prev {
            NIL => self.lists[list].head = next,
            prev => self.entries[prev as usize].next = next,
        }
        match next {
            NIL => self.lists[list].tail = prev,
            next => self.entries[next as usize].prev = prev,
        }
        if list != PENDING as usize && self.lists[list].head == NIL {
            self.slot_min[list] = u64::MAX;
            self.occupied[list / SLOTS] &= !(1 << (list % SLOTS));
        }
    }

    /// Puts unlinked entry `index` on the free list, or pops it with the
    /// vacant entries before it when it is the last one, and returns its value.
    fn release(&mut self, index: u32) -> T {
        let entry = &mut self.entries[index as usize];
        let value = entry.value.take().expect("released a vacant timer entry");
        entry.generation = entry.generation.wrapping_add(1);
        entry.list = VACANT;
        self.fresh_generation = self.fresh_generation.max(entry.generation);
        self.len -= 1;
        if index as usize + 1 == self.entries.len() {
            self.entries.pop();
            while self.entries.last().is_some_and(|last| last.list == VACANT) {
                self.unlink_free(self.entries.len() as u32 - 1);
                self.entries.pop();
            }
            let capacity = self.entries.capacity();
            if capacity > KEEP_CAPACITY && self.entries.len() * 4 <= capacity {
                self.entries
                    .shrink_to((self.entries.len() * 2).max(KEEP_CAPACITY));
            }
        } else {
            let entry = &mut self.entries[index as usize];
            entry.prev = NIL;
            entry.next = self.free.head;
            match self.free.head {
                NIL => self.free.tail = index,
                head => self.entries[head as usize].prev = index,
            }
            self.free.head = index;
        }
        value
    }

    /// Takes vacant entry `index` off the free list.
    fn unlink_free(&mut self, index: u32) {
        let entry = &self.entries[index as usize];
        let (prev, next) = (entry.prev, entry.next);
        match prev {
            NIL => self.free.head = next,
            prev => self.entries[prev as usize].next = next,
        }
        match next {
            NIL => self.free.tail = prev,
            next => self.entries[next as usize].prev = prev,
        }
    }
}

impl<T> Default for Wheel<T> {
    fn default() -> Self {
        Wheel::new()
    }
}

impl<T> fmt::Debug for Wheel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wheel")
            .field("elapsed", &self.elapsed)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

/// The level for a timer due at `when`: that of the highest 6-bit group in
/// which `when` differs from the clock; level 0 at least, the top level at most.
fn level_for(elapsed: u64, when: u64) -> usize {
    let masked = ((elapsed ^ when) | (SLOTS as u64 - 1)).min(MAX_SPAN);
    let significant = 63 - masked.leading_zeros();
    (significant / LEVEL_BITS) as usize
}

fn slot_for(when: u64, level: usize) -> usize {
    (when >> (LEVEL_BITS * level as u32)) as usize % SLOTS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A xorshift generator: deterministic tests without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn drain(wheel: &mut Wheel<u64>, now: u64) -> Vec<u64> {
        std::iter::from_fn(|| wheel.poll(now)).collect()
    }

    #[test]
    fn levels_and_slots() {
        assert_eq!(level_for(0, 1), 0);
        assert_eq!(level_for(0, 63), 0);
        assert_eq!(level_for(0, 64), 1);
        assert_eq!(level_for(0, 64 * 64 - 1), 1);
        assert_eq!(level_for(0, 64 * 64), 2);
        assert_eq!(level_for(0, MAX_SPAN), LEVELS - 1);
        assert_eq!(level_for(0, u64::MAX), LEVELS - 1);
        // Same high groups: only the differing group counts.
        assert_eq!(level_for(64 * 5 + 3, 64 * 5 + 60), 0);
        assert_eq!(slot_for(64 * 5 + 3, 1), 5);
    }

    #[test]
    fn fires_in_order_of_deadline() {
        let mut wheel = Wheel::new();
        for when in [500, 3, 70_000, 64, 1, 4096, 63, 65, 2] {
            wheel.insert(when, when);
        }
        let mut fired = Vec::new();
        for now in 0..=70_000 {
            fired.extend(drain(&mut wheel, now));
        }
        assert_eq!(fired, [1, 2, 3, 63, 64, 65, 500, 4096, 70_000]);
        assert_eq!(wheel.len(), 0);
    }

    #[test]
    fn same_tick_fires_in_insertion_order() {
        let mut wheel = Wheel::new();
        for value in 0..10 {
            wheel.insert(1000, value);
        }
        assert_eq!(drain(&mut wheel, 999), Vec::<u64>::new());
        assert_eq!(drain(&mut wheel, 1000), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn due_at_insert_fires_on_next_poll() {
        let mut wheel = Wheel::new();
        assert_eq!(drain(&mut wheel, 100), Vec::<u64>::new());
        wheel.insert(50, 50);
        wheel.insert(100, 100);
        assert_eq!(wheel.next_expiration_tick(), Some(100));
        assert_eq!(drain(&mut wheel, 100), [50, 100]);
    }

    /// Against a model, with a clock that advances by random steps (small and
    /// large): after every poll the fired set is exactly the timers due by
    /// then, so nothing fires early and nothing is left behind.
    #[test]
    fn never_early_never_left_behind_at_every_level() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut wheel = Wheel::new();
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        let mut keys = Vec::new();
        let mut now = 0u64;
        let mut id = 0;
        for round in 0..4000 {
            for _ in 0..rng.below(8) {
                // Distances up to 2^40 ticks: every level and past the range.
                let bits = rng.below(41);
                let when = now + rng.below(1 << bits);
                keys.push((wheel.insert(when, id), id));
                model.insert(id, when);
                id += 1;
            }
            if round % 3 == 0 && !keys.is_empty() {
                let (key, id) = keys.swap_remove(rng.below(keys.len() as u64) as usize);
                assert_eq!(wheel.remove(key), model.remove(&id).map(|_| id));
            }
            if let Some(next) = wheel.next_expiration_tick() {
                let earliest = model.values().min().copied().unwrap();
                assert!(next <= earliest.max(wheel.elapsed()));
            }
            now += match rng.below(4) {
                0 => 0,
                1 => rng.below(64),
                2 => rng.below(1 << 20),
                _ => rng.below(1 << 37),
            };
            for fired in drain(&mut wheel, now) {
                let when = model.remove(&fired).expect("fired once");
                assert!(when <= now, "timer due at {when} fired at {now}");
            }
            assert!(model.values().all(|&when| when > now));
            assert_eq!(wheel.len(), model.len());
        }
    }

    /// Stepping the clock from one `next_expiration_tick` to the next, as a
    /// core does, while timers come and go: every timer fires exactly on its
    /// tick, never before and never after.
    #[test]
    fn stepping_to_next_expiration_fires_each_timer_on_its_tick() {
        for seed in 1..=8u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut wheel = Wheel::new();
            let mut model: BTreeMap<u64, u64> = BTreeMap::new();
            let mut keys = Vec::new();
            let mut id = 0;
            let mut fired_total = 0;
            for _ in 0..2000 {
                let now = wheel.elapsed();
                for _ in 0..rng.below(4) {
                    let bits = rng.below(38);
                    let when = now + 1 + rng.below(1 << bits);
                    keys.push((wheel.insert(when, id), id));
                    model.insert(id, when);
                    id += 1;
                }
                for _ in 0..rng.below(3) {
                    if keys.is_empty() {
                        break;
                    }
                    let (key, id) = keys.swap_remove(rng.below(keys.len() as u64) as usize);
                    assert_eq!(wheel.remove(key), model.remove(&id).map(|_| id));
                }
                let Some(next) = wheel.next_expiration_tick() else {
                    assert!(model.is_empty());
                    continue;
                };
                let earliest = *model.values().min().unwrap();
                assert!(next <= earliest);
                for fired in drain(&mut wheel, next) {
                    assert_eq!(model.remove(&fired), Some(next), "fired on its tick");
                    fired_total += 1;
                }
                assert!(model.values().all(|&when| when > next));
            }
            assert!(fired_total > 100, "{fired_total}");
        }
    }

    /// Following `next_expiration_tick` from poll to poll visits every
    /// timer no later than its tick, as the core loop does.
    #[test]
    fn next_expiration_leads_to_every_timer() {
        let mut wheel = Wheel::new();
        let whens = [1, 7, 64, 100, 4095, 4096, 300_000, 1 << 30, MAX_SPAN + 5];
        for when in whens {
            wheel.insert(when, when);
        }
        let mut fired = Vec::new();
        let mut wakeups = 0;
        while let Some(next) = wheel.next_expiration_tick() {
            wakeups += 1;
            for when in drain(&mut wheel, next) {
                assert_eq!(when, next, "fired exactly on its tick");
                fired.push(when);
            }
        }
        assert_eq!(fired, whens);
        // One wake-up per timer: no wake-up only to cascade.
        assert_eq!(wakeups, whens.len());
    }

    #[test]
    fn cascades_through_every_level() {
        let mut wheel = Wheel::new();
        let when = 64u64.pow(5) * 3 + 64u64.pow(4) * 2 + 64 * 64 * 7 + 64 * 5 + 9;
        wheel.insert(when, 1);
        assert_eq!(drain(&mut wheel, when - 1), Vec::<u64>::new());
        assert_eq!(wheel.len(), 1);
        assert_eq!(drain(&mut wheel, when), [1]);
    }

    #[test]
    fn far_future_ticks_are_recascaded_not_fired() {
        let mut wheel = Wheel::new();
        let far = MAX_SPAN * 3 + 12_345;
        let key = wheel.insert(u64::MAX, 0);
        wheel.insert(far, 1);
        let mut now = 0;
        let mut turns = 0;
        while now < far {
            let next = wheel.next_expiration_tick().unwrap();
            assert!(next > now && next <= far);
            now = next;
            for fired in drain(&mut wheel, now) {
                assert_eq!((fired, now), (1, far));
            }
            turns += 1;
        }
        assert!(turns < 64 * 4 + LEVELS * 2, "{turns} turns");
        assert_eq!(wheel.len(), 1);
        assert!(wheel.next_expiration_tick().unwrap() > far);
        // Jumping the clock by many times the range at once is fine too (it
        // costs one cascade per turn of the top level).
        assert_eq!(drain(&mut wheel, far * 1000), Vec::<u64>::new());
        assert_eq!(wheel.len(), 1);
        assert_eq!(wheel.remove(key), Some(0));
    }

    #[test]
    fn cancel() {
        let mut wheel = Wheel::new();
        let a = wheel.insert(10, 1);
        let b = wheel.insert(10, 2);
        let c = wheel.insert(5000, 3);
        assert_eq!(wheel.remove(b), Some(2));
        assert_eq!(wheel.remove(b), None);
        assert_eq!(wheel.remove(c), Some(3));
        assert_eq!(wheel.next_expiration_tick(), Some(10));
        assert_eq!(drain(&mut wheel, 10_000), [1]);
        assert_eq!(wheel.remove(a), None, "a fired key is stale");
        assert_eq!(wheel.next_expiration_tick(), None);
    }

    #[test]
    fn cancel_while_pending() {
        let mut wheel = Wheel::new();
        wheel.insert(1, 1);
        let b = wheel.insert(1, 2);
        wheel.insert(1, 3);
        assert_eq!(wheel.poll(1), Some(1));
        // 2 and 3 are now on the pending list.
        assert_eq!(wheel.remove(b), Some(2));
        assert_eq!(drain(&mut wheel, 1), [3]);
    }

    #[test]
    fn stale_key_never_reaches_a_newer_timer() {
        let mut wheel = Wheel::new();
        let keep = wheel.insert(1_000_000, 0);
        let old = wheel.insert(10, 1);
        assert_eq!(wheel.remove(old), Some(1));
        let new = wheel.insert(20, 2);
        assert_eq!(new.index(), old.index(), "the slot is reused");
        assert_eq!(wheel.remove(old), None);
        assert!(wheel.get_mut(old).is_none());
        assert_eq!(wheel.get_mut(new), Some(&mut 2));
        // And after firing.
        assert_eq!(drain(&mut wheel, 20), [2]);
        let newer = wheel.insert(30, 3);
        assert_eq!(newer.index(), new.index());
        assert_eq!(wheel.remove(new), None);
        assert_eq!(wheel.remove(newer), Some(3));
        assert_eq!(wheel.remove(keep), Some(0));
    }

    #[test]
    fn stale_key_after_storage_is_released() {
        let mut wheel = Wheel::new();
        let keys: Vec<_> = (0..KEEP_CAPACITY as u64 * 2)
            .map(|i| wheel.insert(i + 1, i))
            .collect();
        for &key in &keys {
            wheel.remove(key);
        }
        assert!(wheel.capacity() <= KEEP_CAPACITY);
        let fresh = wheel.insert(5, 7);
        assert_eq!(fresh.index(), 0);
        assert_eq!(wheel.remove(keys[0]), None);
        let cleared = wheel.clear();
        assert_eq!(cleared, [7]);
        let after_clear = wheel.insert(5, 8);
        assert_eq!(wheel.remove(fresh), None);
        assert_eq!(wheel.remove(after_clear), Some(8));
    }

    #[test]
    fn vacant_tail_is_trimmed() {
        let mut wheel = Wheel::new();
        let keys: Vec<_> = (0..100_000u64).map(|i| wheel.insert(i + 1, i)).collect();
        for &key in &keys[1000..] {
            wheel.remove(key);
        }
        assert_eq!(wheel.len(), 1000);
        assert!(wheel.capacity() < 10_000, "{}", wheel.capacity());
        // The free list still works after a trim.
        let more: Vec<_> = (0..2000u64).map(|i| wheel.insert(i + 1, i)).collect();
        assert!(more.iter().all(|key| key.index() < 3000));
        assert_eq!(drain(&mut wheel, 1_000_000).len(), 3000);
    }

    #[test]
    fn million_timers_nine_in_ten_cancelled_then_fired() {
        let mut rng = Rng(42);
        let mut wheel = Wheel::new();
        let mut keys: Vec<_> = (0..1_000_000u64)
            .map(|i| wheel.insert(1 + rng.below(3_600_000), i))
            .collect();
        assert_eq!(wheel.len(), 1_000_000);
        // Cancel 90 %, in random order.
        for i in (1..keys.len()).rev() {
            keys.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for key in keys.drain(100_000..) {
            assert!(wheel.remove(key).is_some());
        }
        assert_eq!(wheel.len(), 100_000);
        let mut fired = 0;
        let mut last = 0;
        while let Some(next) = wheel.next_expiration_tick() {
            assert!(next >= last);
            last = next;
            fired += drain(&mut wheel, next).len();
        }
        assert_eq!(fired, 100_000);
        assert_eq!(wheel.len(), 0);
        assert!(wheel.capacity() <= KEEP_CAPACITY, "storage handed back");
        assert!(keys.into_iter().all(|key| wheel.remove(key).is_none()));
    }
}
