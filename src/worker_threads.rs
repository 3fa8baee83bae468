//! How many tokio worker threads serve the connections.
//!
//! One fewer than the cores the process may use, and at least one: the bot's
//! asyncio loop (its callbacks, and the rest of the bot) keeps a core when
//! the server is busy. On the 2-core benchmark machine one worker also did the
//! same fan-out with less CPU than two: at 10,000 clients, 4–7 % less server
//! CPU per delivered message and 13–17 % less lag (medians of 4 alternating
//! runs each, for this server and for the no-Python ceiling).

use std::num::NonZeroUsize;

/// Environment variable: the number of worker threads, `1` to [`MOST`].
pub const ENV: &str = "D_BACK_WORKER_THREADS";

/// The largest number [`ENV`] may ask for.
pub const MOST: usize = 1024;

/// The number of tokio worker threads the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerThreads(NonZeroUsize);

impl WorkerThreads {
    pub fn get(self) -> usize {
        self.0.get()
    }

    /// One fewer than `cores`, at least one.
    pub fn for_cores(cores: usize) -> Self {
        Self(NonZeroUsize::new(cores.saturating_sub(1)).unwrap_or(NonZeroUsize::MIN))
    }

    /// Reads [`ENV`]; unset or blank means one fewer than the usable cores.
    pub fn from_env() -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self::parse(std::env::var(ENV).ok().as_deref(), cores)
    }

    /// Parses a value of [`ENV`], saying what is wrong with a bad one.
    pub fn parse(raw: Option<&str>, cores: usize) -> Result<Self, String> {
        let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
            return Ok(Self::for_cores(cores));
        };
        raw.parse::<usize>()
            .ok()
            .filter(|count| *count <= MOST)
            .and_then(NonZeroUsize::new)
            .map(Self)
            .ok_or_else(|| {
                format!(
                    "environment variable {ENV}='{raw}' must be a whole number from 1 to {MOST}"
                )
            })
    }

    /// Makes `builder` start this many workers.
    pub fn for_runtime(self, builder: &mut tokio::runtime::Builder) {
        builder.worker_threads(self.get());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_one_core_is_left_over() {
        for (cores, workers) in [(1, 1), (2, 1), (4, 3), (16, 15)] {
            assert_eq!(
                WorkerThreads::parse(None, cores).map(WorkerThreads::get),
                Ok(workers)
            );
            assert_eq!(
                WorkerThreads::parse(Some(" "), cores).map(WorkerThreads::get),
                Ok(workers)
            );
        }
    }

    #[test]
    fn the_environment_decides_when_set() {
        for (raw, workers) in [("1", 1), (" 3 ", 3), ("1024", 1024)] {
            assert_eq!(
                WorkerThreads::parse(Some(raw), 2).map(WorkerThreads::get),
                Ok(workers)
            );
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_variable_named() {
        for raw in ["0", "-1", "1025", "2.5", "many"] {
            let error = WorkerThreads::parse(Some(raw), 2).expect_err(raw);
            assert!(error.contains(ENV) && error.contains(raw), "{error}");
        }
    }
}
