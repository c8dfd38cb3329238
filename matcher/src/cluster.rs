//! Clustering scored pairs into persons: connected components over strong links, guarded against
//! long chains of weak links.
//!
//! # The rule
//! 1. A *link* is a scored pair whose match weight is at least
//!    [`ClusterConfig::link_threshold`]; a *cannot-link* is a scored pair whose match weight is at
//!    most [`ClusterConfig::cannot_link_threshold`] (the model judged it clearly a non-match).
//! 2. Links are processed one by one by descending weight; equal weights by ascending `(a, b)`.
//!    Each starts as its own component (a singleton).
//! 3. A link between two different components merges them, unless the merged component would
//!    - hold more than [`ClusterConfig::max_cluster_size`] records, or
//!    - contain a cannot-link pair (two records the model scored as clearly different), or
//!    - have a diameter above [`ClusterConfig::max_diameter`]: the largest, over pairs of its
//!      members, of the fewest links (among its members) needed to go from one to the other.
//!
//!    A refused link is simply skipped; the two components stay apart unless a later link
//!    merges them legitimately (after one of them has changed).
//!
//! Processing strong links first means a chain `A - B - C - D` of weak links cannot pull
//! together records that stronger evidence already placed apart, and the cannot-link and
//! diameter rules stop transitive closure from joining people the model never saw as one.
//! The result depends only on the set of scored pairs, not on their order.

use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};

/// Thresholds of the clustering rule (see the module documentation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// Pairs with a match weight at least this are links.
    pub link_threshold: f64,
    /// Pairs with a match weight at most this veto any component holding both records.
    pub cannot_link_threshold: f64,
    /// Largest component allowed.
    pub max_cluster_size: usize,
    /// Largest diameter allowed, in links.
    pub max_diameter: usize,
}

impl Default for ClusterConfig {
    /// Links from a match probability of 0.95 (4.25 bits, the built-in model's "probable"
    /// threshold); a pair at or below -8 bits vetoes; at most 64 records, every two of them at
    /// most two links apart. On 100k synthetic records these gave the best pairwise F1 of a
    /// sweep over link thresholds 2..8, cannot-link -4/-8 and diameters 2..4.
    fn default() -> Self {
        Self {
            link_threshold: 4.25,
            cannot_link_threshold: -8.0,
            max_cluster_size: 64,
            max_diameter: 2,
        }
    }
}

/// The persons found: one label per record and the multi-record clusters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clustering {
    /// For each record, the smallest record number of its cluster (its own number if alone).
    pub labels: Vec<u32>,
    /// Clusters of two or more records; members ascending, clusters by first member.
    pub clusters: Vec<Vec<u32>>,
    /// Links refused by the guards (size, cannot-link, diameter).
    pub refused_links: usize,
}

struct Components {
    parent: Vec<u32>,
    members: Vec<Vec<u32>>,
}

impl Components {
    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    fn size(&self, root: u32) -> usize {
        self.members[root as usize].len().max(1)
    }

    fn members(&self, root: u32) -> Vec<u32> {
        let m = &self.members[root as usize];
        if m.is_empty() { vec![root] } else { m.clone() }
    }

    fn union(&mut self, ra: u32, rb: u32) {
        let (keep, gone) =
            if (self.size(ra), std::cmp::Reverse(ra)) >= (self.size(rb), std::cmp::Reverse(rb)) {
                (ra, rb)
            } else {
                (rb, ra)
            };
        let moved = self.members(gone);
        self.members[gone as usize] = Vec::new();
        if self.members[keep as usize].is_empty() {
            self.members[keep as usize].push(keep);
        }
        self.members[keep as usize].extend(moved);
        self.parent[gone as usize] = keep;
    }
}

/// Clusters records `0..n` given scored pairs `(a, b, match_weight)` (pairs naming a record
/// outside `0..n`, self pairs and NaN weights are ignored). See the module documentation for
/// the rule.
pub fn cluster(n: usize, scored: &[(u32, u32, f64)], config: &ClusterConfig) -> Clustering {
    let valid = |&&(a, b, w): &&(u32, u32, f64)| {
        a != b && (a as usize) < n && (b as usize) < n && !w.is_nan()
    };
    let mut links: Vec<(u32, u32, f64)> = scored
        .iter()
        .filter(valid)
        .filter(|p| p.2 >= config.link_threshold)
        .map(|&(a, b, w)| (a.min(b), a.max(b), w))
        .collect();
    links.sort_unstable_by(|x, y| y.2.total_cmp(&x.2).then((x.0, x.1).cmp(&(y.0, y.1))));

    let mut adjacency: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for &(a, b, _) in &links {
        adjacency.entry(a).or_default().push(b);
        adjacency.entry(b).or_default().push(a);
    }
    let mut cannot: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
    for &(a, b, w) in scored.iter().filter(valid) {
        if w <= config.cannot_link_threshold
            && adjacency.contains_key(&a)
            && adjacency.contains_key(&b)
        {
            cannot.entry(a).or_default().push(b);
            cannot.entry(b).or_default().push(a);
        }
    }

    let mut comps = Components {
        parent: (0..n).map(|i| i as u32).collect(),
        members: vec![Vec::new(); n],
    };
    let mut refused_links = 0;
    let mut refused_unions: FxHashSet<(u32, u32, usize, usize)> = FxHashSet::default();
    for &(a, b, _) in &links {
        let (ra, rb) = (comps.find(a), comps.find(b));
        if ra == rb {
            continue;
        }
        let (sa, sb) = (comps.size(ra), comps.size(rb));
        let key = (ra.min(rb), ra.max(rb), sa.min(sb), sa.max(sb));
        if refused_unions.contains(&key)
            || !may_merge(&mut comps, ra, rb, &adjacency, &cannot, config)
        {
            refused_unions.insert(key);
            refused_links += 1;
            continue;
        }
        comps.union(ra, rb);
    }

    let Components { parent, members } = comps;
    let mut clusters: Vec<Vec<u32>> = members
        .into_iter()
        .enumerate()
        .filter(|(i, m)| parent[*i] as usize == *i && m.len() >= 2)
        .map(|(_, mut m)| {
            m.sort_unstable();
            m
        })
        .collect();
    let mut labels: Vec<u32> = (0..n as u32).collect();
    clusters.sort_unstable();
    for c in &clusters {
        for &m in c {
            labels[m as usize] = c[0];
        }
    }
    Clustering {
        labels,
        clusters,
        refused_links,
    }
}

fn may_merge(
    comps: &mut Components,
    ra: u32,
    rb: u32,
    adjacency: &FxHashMap<u32, Vec<u32>>,
    cannot: &FxHashMap<u32, Vec<u32>>,
    config: &ClusterConfig,
) -> bool {
    let (sa, sb) = (comps.size(ra), comps.size(rb));
    if sa + sb > config.max_cluster_size {
        return false;
    }
    let (small, other) = if sa <= sb { (ra, rb) } else { (rb, ra) };
    for m in comps.members(small) {
        for &c in cannot.get(&m).map_or(&[][..], Vec::as_slice) {
            if comps.find(c) == other {
                return false;
            }
        }
    }
    if sa + sb <= 2 || config.max_diameter.saturating_add(1) >= sa + sb {
        // Two records, or too few to form a path longer than allowed.
        return true;
    }
    let mut set = comps.members(ra);
    set.extend(comps.members(rb));
    set.sort_unstable();
    diameter(&set, adjacency) <= config.max_diameter
}

/// The diameter, in links, of the graph of `adjacency` restricted to `set` (sorted).
fn diameter(set: &[u32], adjacency: &FxHashMap<u32, Vec<u32>>) -> usize {
    let mut worst = 0;
    let mut dist: Vec<usize> = vec![usize::MAX; set.len()];
    let mut queue = std::collections::VecDeque::new();
    for start in 0..set.len() {
        dist.fill(usize::MAX);
        dist[start] = 0;
        queue.clear();
        queue.push_back(start);
        while let Some(at) = queue.pop_front() {
            let d = dist[at];
            worst = worst.max(d);
            for &nb in adjacency.get(&set[at]).map_or(&[][..], Vec::as_slice) {
                if let Ok(j) = set.binary_search(&nb)
                    && dist[j] == usize::MAX
                {
                    dist[j] = d + 1;
                    queue.push_back(j);
                }
            }
        }
        if dist.contains(&usize::MAX) {
            return usize::MAX;
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ClusterConfig {
        ClusterConfig {
            link_threshold: 5.0,
            cannot_link_threshold: -5.0,
            max_cluster_size: 10,
            max_diameter: 2,
        }
    }

    #[test]
    fn strong_links_form_components_and_weak_ones_do_not() {
        let c = cluster(5, &[(0, 1, 9.0), (1, 2, 8.0), (3, 4, 1.0)], &config());
        assert_eq!(c.clusters, vec![vec![0, 1, 2]]);
        assert_eq!(c.labels, vec![0, 0, 0, 3, 4]);
        assert_eq!(c.refused_links, 0);
    }

    #[test]
    fn a_cannot_link_vetoes_the_union() {
        // 0-1 and 1-2 are links, but 0-2 was scored clearly different.
        let c = cluster(3, &[(0, 1, 9.0), (1, 2, 6.0), (0, 2, -12.0)], &config());
        assert_eq!(c.clusters, vec![vec![0, 1]]);
        assert_eq!(c.refused_links, 1);
    }

    #[test]
    fn a_long_chain_is_cut_at_its_weakest_links() {
        // A path 0-1-2-3-4-5 whose middle link is weakest: diameter 2 allows at most 3 in a row.
        let pairs = [
            (0, 1, 9.0),
            (1, 2, 8.0),
            (2, 3, 5.5),
            (3, 4, 8.0),
            (4, 5, 9.0),
        ];
        let c = cluster(6, &pairs, &config());
        assert_eq!(c.clusters, vec![vec![0, 1, 2], vec![3, 4, 5]]);
        assert_eq!(c.refused_links, 1);
    }

    #[test]
    fn the_size_cap_holds() {
        let pairs: Vec<(u32, u32, f64)> = (0..20).map(|i| (0, i + 1, 9.0)).collect();
        let c = cluster(21, &pairs, &config());
        assert_eq!(c.clusters.len(), 1);
        assert_eq!(c.clusters[0].len(), 10);
        assert_eq!(c.clusters[0], (0..10).collect::<Vec<u32>>());
    }

    #[test]
    fn input_order_does_not_matter() {
        let mut pairs = vec![
            (0, 1, 7.0),
            (2, 1, 7.0),
            (2, 3, 7.0),
            (3, 4, 7.0),
            (0, 4, -9.0),
        ];
        let a = cluster(5, &pairs, &config());
        pairs.reverse();
        assert_eq!(a, cluster(5, &pairs, &config()));
    }
}
