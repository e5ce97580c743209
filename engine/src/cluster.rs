//! Forming a cluster of processes. timely connects the processes and then trusts that every
//! one runs with the same `-w`; a peer that never answers, or one with another `-w`, makes the
//! cluster hang without a word. Here a process fails instead, within a timeout, saying why.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use timely::dataflow::operators::vec::{Broadcast, Input};
use timely::dataflow::operators::{Inspect, Probe};

/// Exits the process with an error unless `formed` is set within `timeout`.
pub fn watchdog(timeout: Duration, formed: Arc<AtomicBool>, what: String) {
    std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if formed.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("error: {what}");
        std::process::exit(2);
    });
}

/// Adds a hint to the panics of timely's network threads (a peer with another `-w` makes them
/// index out of bounds; a peer that stops resets the connection).
///
/// Once every worker of this process has finished (`finished` reaches `threads`), a panic of
/// timely's communication is the teardown race of a peer that closed its connections first:
/// the job is complete, and [`crate::run`] says so instead.
pub fn explain_network_panics(
    process: usize,
    threads: usize,
    finished: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let previous = std::panic::take_hook();
    let said = std::sync::Once::new();
    std::panic::set_hook(Box::new(move |info| {
        let teardown = finished.load(std::sync::atomic::Ordering::SeqCst) >= threads
            && info
                .location()
                .is_some_and(|l| l.file().contains("timely_communication"));
        if teardown {
            return;
        }
        previous(info);
        said.call_once(|| {
            eprintln!(
                "error: process {process}: the cluster broke down: every process must be given \
                 the same -w (here -w {threads}), and none may stop while the job runs"
            );
        });
    }));
}

/// Every worker tells every other worker its process's `-w`; an error names the first process
/// whose `-w` differs from this one's.
pub fn handshake(
    worker: &mut timely::worker::Worker,
    process: usize,
    threads: usize,
) -> Result<(), String> {
    let seen: Rc<RefCell<Vec<(usize, usize)>>> = Rc::default();
    let (mut input, probe) = worker.dataflow::<u64, _, _>(|scope| {
        let seen = seen.clone();
        let (handle, stream) = scope.new_input::<(usize, usize)>();
        let probe = stream
            .broadcast()
            .inspect(move |x| seen.borrow_mut().push(*x))
            .probe()
            .0;
        (handle, probe)
    });
    input.send((process, threads));
    input.advance_to(1);
    drop(input);
    while probe.less_than(&1) {
        worker.step_or_park(Some(Duration::from_millis(1)));
    }
    let seen = seen.borrow();
    if let Some((p, w)) = seen.iter().find(|(_, w)| *w != threads) {
        return Err(format!(
            "process {p} runs with -w {w} but process {process} with -w {threads}: every process \
             of a cluster must be given the same -w"
        ));
    }
    if seen.len() != worker.peers() {
        return Err(format!(
            "expected word from {} workers, heard from {}",
            worker.peers(),
            seen.len()
        ));
    }
    Ok(())
}
