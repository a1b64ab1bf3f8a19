//! Operation histories and a linearizability checker for a versioned register (a znode's data
//! and version: read, write, compare-and-set on the version), after Wing & Gong's search with
//! Lowe's memoisation (the algorithm behind Knossos and Porcupine).
//!
//! An operation is invoked at one instant and completes at a later one with a known outcome,
//! or never (the client lost its connection: the operation may have taken effect at any
//! point after its invocation, or not at all). The history is linearizable if some total
//! order of the operations (omitting any subset of the unknown ones) respects real time
//! (an operation that completed before another was invoked comes first) and replays on the
//! register to exactly the outcomes observed.
#![allow(dead_code)]

use std::collections::HashSet;

/// A register operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegOp {
    /// Read value and version.
    Read,
    /// Set the value whatever the version.
    Write(i64),
    /// Set the value if the version is `expected`.
    Cas {
        /// The version the node must have.
        expected: i32,
        /// The new value.
        value: i64,
    },
}

/// What the client saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegOutcome {
    /// A read returned this value and version.
    Read { value: i64, version: i32 },
    /// A write or successful CAS left the node at this version.
    Written { version: i32 },
    /// A CAS was refused (BadVersion): nothing changed.
    Refused,
    /// No answer: it may or may not have happened.
    Unknown,
}

/// One operation of a history; times in any monotonic unit.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// What was asked.
    pub op: RegOp,
    /// When it was sent.
    pub invoked: u64,
    /// When its answer arrived (None for Unknown).
    pub completed: Option<u64>,
    /// The answer.
    pub outcome: RegOutcome,
}

/// The register's state: (value, version).
type State = (i64, i32);

fn step(state: State, op: RegOp, outcome: RegOutcome) -> Option<State> {
    let (value, version) = state;
    match (op, outcome) {
        (
            RegOp::Read,
            RegOutcome::Read {
                value: v,
                version: ver,
            },
        ) => (v == value && ver == version).then_some(state),
        (RegOp::Write(v), RegOutcome::Written { version: ver }) => {
            (ver == version + 1).then_some((v, ver))
        }
        (RegOp::Write(v), RegOutcome::Unknown) => Some((v, version + 1)),
        (RegOp::Cas { expected, value: v }, RegOutcome::Written { version: ver }) => {
            (expected == version && ver == version + 1).then_some((v, ver))
        }
        (RegOp::Cas { expected, value: v }, RegOutcome::Unknown) => {
            (expected == version).then_some((v, version + 1))
        }
        (RegOp::Cas { expected, .. }, RegOutcome::Refused) => {
            (expected != version).then_some(state)
        }
        // A read with no answer constrains nothing: it is simply not linearized.
        (RegOp::Read, RegOutcome::Unknown) => None,
        _ => None,
    }
}

#[derive(Clone, Copy, Debug)]
enum Event {
    Call(usize),
    Return(usize),
}

/// True if `history` is linearizable from the initial state `init` (value, version).
pub fn linearizable(history: &[Entry], init: (i64, i32)) -> bool {
    // Events in time order; a return comes after a call at the same instant only if it is
    // its own (an operation cannot complete before it starts).
    let mut events: Vec<(u64, u8, Event)> = Vec::with_capacity(history.len() * 2);
    for (id, e) in history.iter().enumerate() {
        events.push((e.invoked, 0, Event::Call(id)));
        if let Some(done) = e.completed {
            events.push((done, 1, Event::Return(id)));
        }
    }
    events.sort_by_key(|(t, k, _)| (*t, *k));
    let n = events.len();
    // A doubly linked list over the events, so linearized operations can be lifted out and
    // put back in O(1).
    let mut next: Vec<Option<usize>> = (0..n).map(|i| (i + 1 < n).then_some(i + 1)).collect();
    let mut prev: Vec<Option<usize>> = (0..n).map(|i| i.checked_sub(1)).collect();
    let mut head: Option<usize> = (n > 0).then_some(0);
    let mut call_at = vec![usize::MAX; history.len()];
    let mut return_at = vec![usize::MAX; history.len()];
    for (i, (_, _, ev)) in events.iter().enumerate() {
        match ev {
            Event::Call(id) => call_at[*id] = i,
            Event::Return(id) => return_at[*id] = i,
        }
    }
    let unlink = |i: usize,
                  next: &mut Vec<Option<usize>>,
                  prev: &mut Vec<Option<usize>>,
                  head: &mut Option<usize>| {
        match prev[i] {
            Some(p) => next[p] = next[i],
            None => *head = next[i],
        }
        if let Some(nx) = next[i] {
            prev[nx] = prev[i];
        }
    };
    let relink = |i: usize,
                  next: &mut Vec<Option<usize>>,
                  prev: &mut Vec<Option<usize>>,
                  head: &mut Option<usize>| {
        match prev[i] {
            Some(p) => next[p] = Some(i),
            None => *head = Some(i),
        }
        if let Some(nx) = next[i] {
            prev[nx] = Some(i);
        }
    };
    let words = history.len().div_ceil(64);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, State)> = HashSet::new();
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state: State = init;
    let mut entry = head;
    // Return events still in the list; linearizing an operation lifts its return out.
    let mut returns_left = history.iter().filter(|e| e.completed.is_some()).count();
    loop {
        // Done when no return event is left: what remains are unknown operations that need
        // not have happened.
        if returns_left == 0 {
            return true;
        }
        let Some(i) = entry else {
            // Only unknown calls are left after this point but a return remains earlier:
            // backtrack.
            match stack.pop() {
                None => return false,
                Some((id, old)) => {
                    state = old;
                    linearized[id / 64] &= !(1 << (id % 64));
                    if return_at[id] != usize::MAX {
                        relink(return_at[id], &mut next, &mut prev, &mut head);
                        returns_left += 1;
                    }
                    relink(call_at[id], &mut next, &mut prev, &mut head);
                    entry = next[call_at[id]];
                    continue;
                }
            }
        };
        match events[i].2 {
            Event::Call(id) => {
                let e = &history[id];
                let stepped = step(state, e.op, e.outcome);
                let mut lifted = false;
                if let Some(new_state) = stepped {
                    let mut bits = linearized.clone();
                    bits[id / 64] |= 1 << (id % 64);
                    if cache.insert((bits.clone(), new_state)) {
                        stack.push((id, state));
                        state = new_state;
                        linearized = bits;
                        unlink(call_at[id], &mut next, &mut prev, &mut head);
                        if return_at[id] != usize::MAX {
                            unlink(return_at[id], &mut next, &mut prev, &mut head);
                            returns_left -= 1;
                        }
                        entry = head;
                        lifted = true;
                    }
                }
                if !lifted {
                    entry = next[i];
                }
            }
            Event::Return(_) => match stack.pop() {
                None => return false,
                Some((id, old)) => {
                    state = old;
                    linearized[id / 64] &= !(1 << (id % 64));
                    if return_at[id] != usize::MAX {
                        relink(return_at[id], &mut next, &mut prev, &mut head);
                        returns_left += 1;
                    }
                    relink(call_at[id], &mut next, &mut prev, &mut head);
                    entry = next[call_at[id]];
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(op: RegOp, invoked: u64, completed: Option<u64>, outcome: RegOutcome) -> Entry {
        Entry {
            op,
            invoked,
            completed,
            outcome,
        }
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = [
            e(
                RegOp::Write(1),
                0,
                Some(1),
                RegOutcome::Written { version: 1 },
            ),
            e(
                RegOp::Read,
                2,
                Some(3),
                RegOutcome::Read {
                    value: 1,
                    version: 1,
                },
            ),
            e(
                RegOp::Cas {
                    expected: 1,
                    value: 5,
                },
                4,
                Some(5),
                RegOutcome::Written { version: 2 },
            ),
            e(
                RegOp::Cas {
                    expected: 1,
                    value: 6,
                },
                6,
                Some(7),
                RegOutcome::Refused,
            ),
            e(
                RegOp::Read,
                8,
                Some(9),
                RegOutcome::Read {
                    value: 5,
                    version: 2,
                },
            ),
        ];
        assert!(linearizable(&h, (0, 0)));
    }

    #[test]
    fn stale_read_after_completed_write_is_not() {
        let h = [
            e(
                RegOp::Write(1),
                0,
                Some(1),
                RegOutcome::Written { version: 1 },
            ),
            e(
                RegOp::Read,
                2,
                Some(3),
                RegOutcome::Read {
                    value: 0,
                    version: 0,
                },
            ),
        ];
        assert!(!linearizable(&h, (0, 0)));
    }

    #[test]
    fn concurrent_operations_may_take_either_order() {
        let h = [
            e(
                RegOp::Write(1),
                0,
                Some(10),
                RegOutcome::Written { version: 2 },
            ),
            e(
                RegOp::Write(2),
                1,
                Some(9),
                RegOutcome::Written { version: 1 },
            ),
            e(
                RegOp::Read,
                11,
                Some(12),
                RegOutcome::Read {
                    value: 1,
                    version: 2,
                },
            ),
        ];
        assert!(linearizable(&h, (0, 0)));
    }

    #[test]
    fn a_lost_write_may_or_may_not_have_happened() {
        let applied = [
            e(RegOp::Write(7), 0, None, RegOutcome::Unknown),
            e(
                RegOp::Read,
                5,
                Some(6),
                RegOutcome::Read {
                    value: 7,
                    version: 1,
                },
            ),
        ];
        assert!(linearizable(&applied, (0, 0)));
        let not_applied = [
            e(RegOp::Write(7), 0, None, RegOutcome::Unknown),
            e(
                RegOp::Read,
                5,
                Some(6),
                RegOutcome::Read {
                    value: 0,
                    version: 0,
                },
            ),
        ];
        assert!(linearizable(&not_applied, (0, 0)));
        // But not before it was sent.
        let too_early = [
            e(
                RegOp::Read,
                0,
                Some(1),
                RegOutcome::Read {
                    value: 7,
                    version: 1,
                },
            ),
            e(RegOp::Write(7), 2, None, RegOutcome::Unknown),
        ];
        assert!(!linearizable(&too_early, (0, 0)));
    }

    #[test]
    fn a_refused_cas_must_see_another_version() {
        let h = [e(
            RegOp::Cas {
                expected: 0,
                value: 1,
            },
            0,
            Some(1),
            RegOutcome::Refused,
        )];
        assert!(!linearizable(&h, (0, 0)));
    }

    #[test]
    fn two_successful_cas_on_one_version_are_not() {
        let h = [
            e(
                RegOp::Cas {
                    expected: 0,
                    value: 1,
                },
                0,
                Some(5),
                RegOutcome::Written { version: 1 },
            ),
            e(
                RegOp::Cas {
                    expected: 0,
                    value: 2,
                },
                1,
                Some(6),
                RegOutcome::Written { version: 1 },
            ),
        ];
        assert!(!linearizable(&h, (0, 0)));
    }

    #[test]
    fn a_larger_random_good_history_checks_quickly() {
        // Five clients, 300 operations, produced by a real sequential register with
        // overlapping intervals around each linearization point.
        let mut state: State = (0, 0);
        let mut h = Vec::new();
        let mut seed = 42u64;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for t in 0..300u64 {
            let point = t * 10 + 5;
            let invoked = point - rnd(5);
            let completed = point + rnd(5);
            let (op, outcome) = match rnd(3) {
                0 => (
                    RegOp::Read,
                    RegOutcome::Read {
                        value: state.0,
                        version: state.1,
                    },
                ),
                1 => {
                    state = (t as i64, state.1 + 1);
                    (
                        RegOp::Write(t as i64),
                        RegOutcome::Written { version: state.1 },
                    )
                }
                _ => {
                    let expected = state.1 - rnd(2) as i32;
                    if expected == state.1 {
                        state = (t as i64, state.1 + 1);
                        (
                            RegOp::Cas {
                                expected,
                                value: t as i64,
                            },
                            RegOutcome::Written { version: state.1 },
                        )
                    } else {
                        (
                            RegOp::Cas {
                                expected,
                                value: t as i64,
                            },
                            RegOutcome::Refused,
                        )
                    }
                }
            };
            h.push(e(op, invoked, Some(completed), outcome));
        }
        assert!(linearizable(&h, (0, 0)));
        // Corrupt one read: no longer linearizable.
        let i = h
            .iter()
            .rposition(|x| matches!(x.outcome, RegOutcome::Read { .. }))
            .unwrap();
        if let RegOutcome::Read { value, version } = h[i].outcome {
            h[i].outcome = RegOutcome::Read {
                value: value + 1000,
                version,
            };
        }
        assert!(!linearizable(&h, (0, 0)));
    }
}
