//! A hash map that knows which of its entries changed since it was last serialized: what lets a
//! checkpoint write only the state that changed (an incremental snapshot).
//!
//! Serialized inside [`serialize_changes`], a map writes the entries inserted or reached
//! mutably since its last serialization and the keys removed since then (a *delta*); anywhere
//! else it writes every entry. A delta read back is applied onto the map it is relative to with
//! [`DeltaMap::absorb`].
//!
//! Each entry records the generation it last changed in (set where the entry is already
//! reached mutably, so the hot path hashes nothing more); finding the changed entries scans the
//! map, which costs far less than serializing it. Serializing changes nothing that it writes
//! (bincode serializes twice: once to size the buffer), it only seals the generation: the first
//! change after it starts the next one.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::hash::Hash;

use hashbrown::Equivalent;
use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};

type Map<K, V> = hashbrown::HashMap<K, V, rustc_hash::FxBuildHasher>;

thread_local! {
    static DELTAS: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` (a serialization) with every [`DeltaMap`] serialized as a delta relative to its
/// previous serialization.
pub fn serialize_changes<T>(f: impl FnOnce() -> T) -> T {
    let _deltas = Mode::set(true);
    f()
}

/// One entry of a [`DeltaMap`]: its value, and the generations it last changed in and was
/// inserted in.
pub struct Slot<V> {
    value: V,
    changed: u32,
    born: u32,
}

/// What both maps keep to write their changes: the generation, the keys removed in it, and
/// whether the map was cleared in it.
struct Marks<K> {
    /// The generation changes go to now: entries changed in it are the next delta.
    generation: u32,
    /// Serialized since the generation began: the next change begins the next one.
    sealed: Cell<bool>,
    /// Keys the last serialization held and that were removed in this generation.
    removed: Vec<K>,
    /// The map was cleared in this generation: the next serialization writes every entry.
    whole: bool,
    /// Read from a delta: the entries are the changed ones and `removed` the keys gone.
    is_delta: bool,
}

impl<K> Default for Marks<K> {
    fn default() -> Self {
        Marks {
            generation: 1,
            sealed: Cell::new(false),
            removed: Vec::new(),
            whole: false,
            is_delta: false,
        }
    }
}

impl<K> Marks<K> {
    /// Before any change: begins a new generation if the last was serialized.
    fn changing(&mut self) -> u32 {
        if self.sealed.replace(false) {
            self.generation = self.generation.wrapping_add(1);
            self.removed.clear();
            self.whole = false;
        }
        self.generation
    }

    /// A new entry, inserted in this generation.
    fn slot<V>(&mut self, value: V) -> Slot<V> {
        let generation = self.changing();
        Slot {
            value,
            changed: generation,
            born: generation,
        }
    }

    /// `slot`, reached mutably: marked changed.
    fn touch<V>(&mut self, slot: &mut Slot<V>) {
        slot.changed = self.changing();
    }

    /// `slot`'s value replaced by `value`: written as a removal of `key` and an insertion, so
    /// that the new value is absorbed whole, never into the value it replaces.
    fn replace<V>(&mut self, key: K, slot: &mut Slot<V>, value: V) -> V {
        let generation = self.changing();
        if slot.born != generation {
            self.removed.push(key);
        }
        slot.changed = generation;
        slot.born = generation;
        std::mem::replace(&mut slot.value, value)
    }

    /// `slot` of `key` removed: its value.
    fn removed<V>(&mut self, key: K, slot: Slot<V>) -> V {
        let generation = self.changing();
        // Inserted in this generation: no serialization holds it.
        if slot.born != generation {
            self.removed.push(key);
        }
        slot.value
    }

    fn cleared(&mut self) {
        self.changing();
        self.removed.clear();
        self.whole = true;
    }

    /// The marks of a map read back (generation 0 is the restored state; changes go to 1).
    fn read(removed: Vec<K>, is_delta: bool) -> Self {
        Marks {
            removed,
            is_delta,
            ..Marks::default()
        }
    }
}

/// A hash map (FxHash) whose serialization can be incremental; see the module docs.
pub struct DeltaMap<K, V> {
    map: Map<K, Slot<V>>,
    marks: Marks<K>,
}

impl<K, V> Default for DeltaMap<K, V> {
    fn default() -> Self {
        DeltaMap {
            map: Map::default(),
            marks: Marks::default(),
        }
    }
}

impl<K: Eq + Hash, V> DeltaMap<K, V> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get<Q: ?Sized + Hash + Equivalent<K>>(&self, k: &Q) -> Option<&V> {
        self.map.get(k).map(|s| &s.value)
    }

    pub fn contains_key<Q: ?Sized + Hash + Equivalent<K>>(&self, k: &Q) -> bool {
        self.map.contains_key(k)
    }

    /// The entry of `k`, marked changed.
    pub fn get_mut<Q: ?Sized + Hash + Equivalent<K>>(&mut self, k: &Q) -> Option<&mut V> {
        let s = self.map.get_mut(k)?;
        self.marks.touch(s);
        Some(&mut s.value)
    }

    /// The entry of `k` (inserted as `V::default()` if absent), marked changed.
    pub fn get_or_default<Q>(&mut self, k: &Q) -> &mut V
    where
        Q: ?Sized + Hash + Equivalent<K> + ToOwned<Owned = K>,
        V: Default,
    {
        let marks = &mut self.marks;
        let slot = self
            .map
            .entry_ref(k)
            .or_insert_with(|| marks.slot(V::default()));
        marks.touch(slot);
        &mut slot.value
    }

    /// The entry of `k` (inserted as `make()` if absent), marked changed.
    pub fn get_or_insert_with(&mut self, k: K, make: impl FnOnce() -> V) -> &mut V {
        let marks = &mut self.marks;
        let slot = self.map.entry(k).or_insert_with(|| marks.slot(make()));
        marks.touch(slot);
        &mut slot.value
    }

    /// Inserts `v` at `k`, returning what `k` held (see [`Marks::replace`]).
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.map.get_mut(&k) {
            Some(s) => Some(self.marks.replace(k, s, v)),
            None => {
                let slot = self.marks.slot(v);
                self.map.insert(k, slot);
                None
            }
        }
    }

    pub fn remove<Q: ?Sized + Hash + Equivalent<K>>(&mut self, k: &Q) -> Option<V> {
        let (key, slot) = self.map.remove_entry(k)?;
        Some(self.marks.removed(key, slot))
    }

    /// Removes every entry (the next serialization writes the whole, empty, map).
    pub fn clear(&mut self) {
        self.map.clear();
        self.marks.cleared();
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.map.iter().map(|(k, s)| (k, &s.value))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.map.keys()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.map.values().map(|s| &s.value)
    }

    /// How many entries the next delta writes (changed entries and removed keys).
    pub fn changes(&self) -> usize {
        let generation = self.marks.generation;
        let changed = self.map.values().filter(|s| s.changed == generation);
        changed.count() + self.marks.removed.len()
    }

    /// Applies `newer`, read from the serialization after this map's (a delta, or a whole map
    /// that replaces it); each changed value absorbs its newer serialization.
    pub fn absorb(&mut self, newer: DeltaMap<K, V>)
    where
        V: Absorb,
    {
        if !newer.marks.is_delta {
            *self = newer;
            return;
        }
        for k in newer.marks.removed {
            self.map.remove(&k);
        }
        for (k, slot) in newer.map {
            match self.map.get_mut(&k) {
                Some(s) => s.value.absorb(slot.value),
                None => {
                    self.map.insert(k, slot);
                }
            }
        }
    }
}

impl<K: Eq + Hash, V> Extend<(K, V)> for DeltaMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Eq + Hash, V> FromIterator<(K, V)> for DeltaMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut m = DeltaMap::default();
        m.extend(iter);
        m
    }
}

impl<K, V> IntoIterator for DeltaMap<K, V> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    fn into_iter(self) -> IntoIter<K, V> {
        IntoIter(self.map.into_iter())
    }
}

/// The entries of a [`DeltaMap`], taken out.
pub struct IntoIter<K, V>(hashbrown::hash_map::IntoIter<K, Slot<V>>);

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        self.0.next().map(|(k, s)| (k, s.value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

/// Values that can take a newer serialization of themselves: a delta where they hold
/// [`DeltaMap`]s or [`DeltaBTree`]s, the whole value otherwise.
pub trait Absorb {
    fn absorb(&mut self, newer: Self);
}

/// Values serialized whole: absorbing one replaces it.
macro_rules! absorbed_whole {
    ($([$($g:tt)*] $t:ty),* $(,)?) => {
        $(impl<$($g)*> Absorb for $t {
            fn absorb(&mut self, newer: Self) {
                *self = newer;
            }
        })*
    };
}

absorbed_whole!(
    [] String,
    [T] Vec<T>,
    [A, B] (A, B),
    [K, V, S] std::collections::HashMap<K, V, S>,
    [K, V] std::collections::BTreeMap<K, V>,
);

/// Sets the serialization mode for a scope, and puts the previous one back.
struct Mode(bool);

impl Mode {
    fn set(deltas: bool) -> Mode {
        Mode(DELTAS.replace(deltas))
    }
}

impl Drop for Mode {
    fn drop(&mut self) {
        DELTAS.set(self.0);
    }
}

/// Entries to serialize as a map: all, or only those changed in generation `only`.
struct Entries<I> {
    slots: I,
    only: Option<u32>,
    len: usize,
}

impl<'a, K: Serialize + 'a, V: Serialize + 'a, I> Serialize for Entries<I>
where
    I: Iterator<Item = (&'a K, &'a Slot<V>)> + Clone,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len))?;
        for (k, slot) in self.slots.clone() {
            if self.only.is_none_or(|g| slot.changed == g) {
                m.serialize_entry(k, &slot.value)?;
            }
        }
        m.end()
    }
}

/// What a map writes; [`Stored`] reads it back.
#[derive(serde::Serialize)]
#[serde(rename = "Stored")]
enum StoredRef<'a, E, K> {
    Whole(E),
    Delta(E, &'a [K]),
}

#[derive(serde::Deserialize)]
enum Stored<M, K> {
    Whole(M),
    Delta(M, Vec<K>),
}

/// Writes the changes of generation `generation` (in [`serialize_changes`], unless the map was
/// cleared in it) or every entry, and seals the generation. Serializing a sealed generation
/// again writes the same changes: a delta repeated is absorbed to the same map.
fn write_slots<'a, S, K, V, I>(
    marks: &Marks<K>,
    slots: I,
    all: usize,
    s: S,
) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    K: Serialize + 'a,
    V: Serialize + 'a,
    I: Iterator<Item = (&'a K, &'a Slot<V>)> + Clone,
{
    let generation = marks.generation;
    marks.sealed.set(true);
    if DELTAS.get() && !marks.whole {
        let len = slots
            .clone()
            .filter(|(_, s)| s.changed == generation)
            .count();
        let entries = Entries {
            slots,
            only: Some(generation),
            len,
        };
        StoredRef::Delta(entries, &marks.removed).serialize(s)
    } else {
        // The values of a whole map are written whole too.
        let _whole = Mode::set(false);
        let entries = Entries {
            slots,
            only: None,
            len: all,
        };
        StoredRef::<_, K>::Whole(entries).serialize(s)
    }
}

/// A map read back: its entries, the keys removed, whether it is a delta.
type Read<K, V> = (Vec<(K, Slot<V>)>, Vec<K>, bool);

/// What a map read back holds: its entries (generation 0: changes go to generation 1), the keys
/// removed and whether it is a delta.
fn read_slots<'de, D, M, K, V>(d: D) -> Result<Read<K, V>, D::Error>
where
    D: Deserializer<'de>,
    M: Deserialize<'de> + IntoIterator<Item = (K, V)>,
    K: Deserialize<'de>,
{
    let (map, removed, is_delta) = match Stored::<M, K>::deserialize(d)? {
        Stored::Whole(m) => (m, Vec::new(), false),
        Stored::Delta(m, r) => (m, r, true),
    };
    let slots = map
        .into_iter()
        .map(|(k, value)| {
            let slot = Slot {
                value,
                changed: 0,
                born: 0,
            };
            (k, slot)
        })
        .collect();
    Ok((slots, removed, is_delta))
}

impl<K: Serialize + Eq + Hash, V: Serialize> Serialize for DeltaMap<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write_slots(&self.marks, self.map.iter(), self.map.len(), s)
    }
}

impl<'de, K, V> Deserialize<'de> for DeltaMap<K, V>
where
    K: Deserialize<'de> + Eq + Hash,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (slots, removed, is_delta) = read_slots::<D, Map<K, V>, K, V>(d)?;
        Ok(DeltaMap {
            map: slots.into_iter().collect(),
            marks: Marks::read(removed, is_delta),
        })
    }
}

impl<K: Eq + Hash, V: Absorb> Absorb for DeltaMap<K, V> {
    fn absorb(&mut self, newer: Self) {
        DeltaMap::absorb(self, newer)
    }
}

/// An ordered map ([`BTreeMap`]) whose serialization can be incremental, as [`DeltaMap`]'s:
/// for the values of a `DeltaMap` that are maps themselves, so that a delta holds the entries
/// of them that changed, not the whole value.
pub struct DeltaBTree<K, V> {
    map: BTreeMap<K, Slot<V>>,
    marks: Marks<K>,
}

impl<K, V> Default for DeltaBTree<K, V> {
    fn default() -> Self {
        DeltaBTree {
            map: BTreeMap::new(),
            marks: Marks::default(),
        }
    }
}

impl<K: Ord, V> DeltaBTree<K, V> {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|s| &s.value)
    }

    pub fn contains_key(&self, k: &K) -> bool {
        self.map.contains_key(k)
    }

    /// The entry of `k`, marked changed.
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let s = self.map.get_mut(k)?;
        self.marks.touch(s);
        Some(&mut s.value)
    }

    /// Inserts `v` at `k`, returning what `k` held (see [`Marks::replace`]).
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        match self.map.get_mut(&k) {
            Some(s) => Some(self.marks.replace(k, s, v)),
            None => {
                let slot = self.marks.slot(v);
                self.map.insert(k, slot);
                None
            }
        }
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        let (key, slot) = self.map.remove_entry(k)?;
        Some(self.marks.removed(key, slot))
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.map.iter().map(|(k, s)| (k, &s.value))
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.map.values().map(|s| &s.value)
    }

    pub fn range<R: std::ops::RangeBounds<K>>(
        &self,
        range: R,
    ) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.map.range(range).map(|(k, s)| (k, &s.value))
    }
}

impl<K: Ord, V> std::ops::Index<&K> for DeltaBTree<K, V> {
    type Output = V;

    fn index(&self, k: &K) -> &V {
        &self.map[k].value
    }
}

impl<K: Ord, V: Absorb> Absorb for DeltaBTree<K, V> {
    fn absorb(&mut self, newer: Self) {
        if !newer.marks.is_delta {
            *self = newer;
            return;
        }
        for k in newer.marks.removed {
            self.map.remove(&k);
        }
        for (k, slot) in newer.map {
            match self.map.get_mut(&k) {
                Some(s) => s.value.absorb(slot.value),
                None => {
                    self.map.insert(k, slot);
                }
            }
        }
    }
}

impl<K: Serialize + Ord, V: Serialize> Serialize for DeltaBTree<K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        write_slots(&self.marks, self.map.iter(), self.map.len(), s)
    }
}

impl<'de, K, V> Deserialize<'de> for DeltaBTree<K, V>
where
    K: Deserialize<'de> + Ord,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (slots, removed, is_delta) = read_slots::<D, BTreeMap<K, V>, K, V>(d)?;
        Ok(DeltaBTree {
            map: slots.into_iter().collect(),
            marks: Marks::read(removed, is_delta),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    type M = DeltaMap<u32, String>;

    fn contents(m: &M) -> BTreeMap<u32, String> {
        m.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    fn round(m: &M, delta: bool) -> (Vec<u8>, M) {
        let bytes = if delta {
            serialize_changes(|| bincode::serialize(m).unwrap())
        } else {
            bincode::serialize(m).unwrap()
        };
        let back: M = bincode::deserialize(&bytes).unwrap();
        (bytes, back)
    }

    #[test]
    fn a_delta_holds_only_what_changed_and_absorbs_into_the_previous_state() {
        let mut m = M::default();
        for k in 0..100 {
            m.insert(k, format!("v{k}"));
        }
        let (full, mut restored) = round(&m, false);
        assert_eq!(contents(&restored), contents(&m));
        // Changes of every kind: through get_mut, insert, get_or_default, removal of an old key,
        // and a key inserted and removed again (no tombstone needed).
        m.get_mut(&3).unwrap().push('!');
        m.insert(7, "seven".into());
        m.get_or_default(&200).push_str("new");
        m.remove(&9);
        m.insert(300, "gone".into());
        m.remove(&300);
        let _ = m.get(&50);
        // Three entries changed; 9 removed, and 7's value replaced (a removal and an insertion).
        assert_eq!(m.changes(), 5);
        let (delta, back) = round(&m, true);
        assert!(back.marks.is_delta);
        assert!(
            delta.len() * 10 < full.len(),
            "{} vs {}",
            delta.len(),
            full.len()
        );
        assert_eq!(back.len(), 3);
        assert_eq!(back.marks.removed, vec![7, 9]);
        restored.absorb(back);
        assert_eq!(contents(&restored), contents(&m));
        // Nothing changed since: the same delta again (bincode serialized it twice already),
        // which absorbs to the same map.
        let (again, back) = round(&m, true);
        assert_eq!(again, delta);
        restored.absorb(back);
        assert_eq!(contents(&restored), contents(&m));
        m.insert(1, "one".into());
        let (_, back) = round(&m, true);
        assert_eq!((back.len(), &back.marks.removed), (1, &vec![1]));
        restored.absorb(back);
        assert_eq!(contents(&restored), contents(&m));
    }

    #[test]
    fn a_cleared_map_and_a_plain_serialization_write_every_entry() {
        let mut m = M::default();
        m.insert(1, "a".into());
        m.insert(2, "b".into());
        let (_, mut restored) = round(&m, false);
        m.clear();
        m.insert(5, "e".into());
        let (_, back) = round(&m, true);
        assert!(!back.marks.is_delta);
        restored.absorb(back);
        assert_eq!(contents(&restored), contents(&m));
        // Outside `serialize_changes`, always whole; the marks are cleared all the same.
        m.insert(6, "f".into());
        let (_, back) = round(&m, false);
        assert!(!back.marks.is_delta);
        assert_eq!(contents(&back), contents(&m));
        m.insert(7, "g".into());
        let (_, back) = round(&m, true);
        assert_eq!(back.len(), 1);
    }

    #[test]
    fn random_changes_restored_through_a_chain_of_deltas_equal_the_map() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut m = M::default();
        let mut chain: Option<M> = None;
        for round_no in 0..30 {
            for _ in 0..next(40) {
                let k = next(60) as u32;
                match next(4) {
                    0 => {
                        m.remove(&k);
                    }
                    1 => {
                        m.insert(k, format!("{round_no}"));
                    }
                    2 => m.get_or_default(&k).push('x'),
                    _ => {
                        if let Some(v) = m.get_mut(&k) {
                            v.push('y');
                        }
                    }
                }
            }
            if next(7) == 0 {
                m.clear();
            }
            let (_, back) = round(&m, chain.is_some());
            match chain.as_mut() {
                None => chain = Some(back),
                Some(c) => c.absorb(back),
            }
            assert_eq!(
                contents(chain.as_ref().unwrap()),
                contents(&m),
                "round {round_no}"
            );
        }
    }

    type Nested = DeltaMap<u32, DeltaBTree<u32, String>>;

    fn nested_contents(m: &Nested) -> BTreeMap<u32, BTreeMap<u32, String>> {
        m.iter()
            .map(|(k, t)| (*k, t.iter().map(|(i, v)| (*i, v.clone())).collect()))
            .collect()
    }

    #[test]
    fn a_delta_of_nested_maps_holds_only_the_inner_entries_that_changed() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        let mut m = Nested::default();
        for k in 0..10 {
            let inner = m.get_or_default(&k);
            for i in 0..50 {
                inner.insert(i, format!("{k}.{i}"));
            }
        }
        let whole = bincode::serialize(&m).unwrap();
        let mut restored: Nested = bincode::deserialize(&whole).unwrap();
        // One inner entry of one key changes: the delta holds that entry only.
        m.get_mut(&3).unwrap().insert(7, "changed".into());
        let delta = serialize_changes(|| bincode::serialize(&m).unwrap());
        assert!(delta.len() < 80, "{} bytes of {}", delta.len(), whole.len());
        restored.absorb(bincode::deserialize(&delta).unwrap());
        assert_eq!(nested_contents(&restored), nested_contents(&m));
        for round_no in 0..40 {
            for _ in 0..next(20) {
                let k = next(14) as u32;
                let i = next(60) as u32;
                match next(5) {
                    0 => {
                        m.remove(&k);
                    }
                    1 => {
                        m.get_or_default(&k).insert(i, format!("{round_no}"));
                    }
                    2 => {
                        if let Some(t) = m.get_mut(&k) {
                            t.remove(&i);
                        }
                    }
                    3 => {
                        if let Some(v) = m.get_mut(&k).and_then(|t| t.get_mut(&i)) {
                            v.push('y');
                        }
                    }
                    _ => {
                        let mut fresh = DeltaBTree::default();
                        fresh.insert(i, "fresh".to_string());
                        m.insert(k, fresh);
                    }
                }
            }
            if next(9) == 0 {
                m.clear();
            }
            let bytes = if next(6) == 0 {
                bincode::serialize(&m).unwrap()
            } else {
                serialize_changes(|| bincode::serialize(&m).unwrap())
            };
            restored.absorb(bincode::deserialize(&bytes).unwrap());
            assert_eq!(
                nested_contents(&restored),
                nested_contents(&m),
                "round {round_no}"
            );
        }
    }
}
