//! The server's threads give way to the rest of the process when CPU is short.
//!
//! The tokio workers and the fan-out thread run a few nice levels below the
//! thread that started them (the bot's, in a cog). When the machine is
//! saturated, the bot's asyncio loop and other processes at default priority
//! get the CPU first; the writers then find several frames queued per
//! connection and send them together, which costs less per frame than
//! competing for the CPU. An idle machine is unaffected: nice only decides who
//! waits when several threads want the CPU.
//!
//! Linux sets priorities per thread. Elsewhere this does nothing, since the
//! same calls would lower the whole process there, the bot included.

/// Environment variable: nice levels below the starting thread, `0` to `19`.
pub const ENV: &str = "D_BACK_THREAD_NICE";

/// Nice levels below the starting thread unless [`ENV`] says otherwise. At
/// five, a server thread gets a third of the CPU share of a thread at the
/// starting thread's priority.
pub const DEFAULT_STEPS: i32 = 5;

/// The highest nice value Linux allows (the lowest priority).
const LOWEST: i32 = 19;

/// How many nice levels below the starting thread the server's threads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NiceSteps(i32);

impl Default for NiceSteps {
    fn default() -> Self {
        Self(DEFAULT_STEPS)
    }
}

impl NiceSteps {
    pub fn get(self) -> i32 {
        self.0
    }

    /// Reads [`ENV`]; unset or blank means [`DEFAULT_STEPS`].
    pub fn from_env() -> Result<Self, String> {
        Self::parse(std::env::var(ENV).ok().as_deref())
    }

    /// Parses a value of [`ENV`], saying what is wrong with a bad one.
    pub fn parse(raw: Option<&str>) -> Result<Self, String> {
        let Some(raw) = raw.map(str::trim).filter(|raw| !raw.is_empty()) else {
            return Ok(Self::default());
        };
        match raw.parse::<i32>() {
            Ok(steps) if (0..=LOWEST).contains(&steps) => Ok(Self(steps)),
            _ => Err(format!(
                "environment variable {ENV}='{raw}' must be a whole number from 0 to {LOWEST}"
            )),
        }
    }

    /// The priority this many steps below the calling thread's.
    pub fn below_this_thread(self) -> ThreadPriority {
        let nice = match current_nice() {
            Some(base) if self.0 > 0 => Some((base + self.0).min(LOWEST)),
            _ => None,
        };
        ThreadPriority { nice }
    }
}

/// A fixed priority for server threads; `Default` leaves threads as they start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadPriority {
    nice: Option<i32>,
}

impl ThreadPriority {
    /// The nice value threads are given, if any.
    pub fn nice(self) -> Option<i32> {
        self.nice
    }

    /// Gives the calling thread this priority.
    pub fn apply(self) {
        if let Some(nice) = self.nice {
            set_current_nice(nice);
        }
    }

    /// Gives every thread `builder` starts this priority.
    pub fn for_runtime(self, builder: &mut tokio::runtime::Builder) {
        if self.nice.is_some() {
            builder.on_thread_start(move || self.apply());
        }
    }
}

/// The calling thread's nice value, where threads have one of their own.
#[cfg(target_os = "linux")]
pub fn current_nice() -> Option<i32> {
    // getpriority may return -1 legitimately: errno tells an error apart.
    // SAFETY: plain libc calls about the calling thread.
    unsafe {
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(libc::PRIO_PROCESS, this_thread());
        (*libc::__errno_location() == 0).then_some(nice)
    }
}

#[cfg(not(target_os = "linux"))]
pub fn current_nice() -> Option<i32> {
    None
}

/// Lets a thread that others wake often (the fan-out thread, woken by every
/// broadcast call) wait for the waker's time slice to end instead of taking
/// the CPU from it: `SCHED_BATCH`, which keeps the nice value.
#[cfg(target_os = "linux")]
pub fn no_preemption_on_wakeup() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: changes the policy of the calling thread only.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_BATCH, &param) } != 0 {
        let error = std::io::Error::last_os_error();
        tracing::debug!(%error, "thread keeps its scheduling policy");
    }
}

#[cfg(not(target_os = "linux"))]
pub fn no_preemption_on_wakeup() {}

#[cfg(target_os = "linux")]
fn this_thread() -> libc::id_t {
    // SAFETY: gettid has no preconditions and cannot fail.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    tid as libc::id_t
}

#[cfg(target_os = "linux")]
fn set_current_nice(nice: i32) {
    // SAFETY: sets the priority of the calling thread only.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, this_thread(), nice) } != 0 {
        let error = std::io::Error::last_os_error();
        tracing::debug!(%error, nice, "thread keeps its priority");
    }
}

#[cfg(not(target_os = "linux"))]
fn set_current_nice(_nice: i32) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_or_blank_means_the_default() {
        assert_eq!(NiceSteps::parse(None), Ok(NiceSteps(DEFAULT_STEPS)));
        assert_eq!(NiceSteps::parse(Some("  ")), Ok(NiceSteps(DEFAULT_STEPS)));
    }

    #[test]
    fn whole_numbers_from_0_to_19_are_accepted() {
        for (raw, steps) in [("0", 0), (" 7 ", 7), ("19", 19)] {
            assert_eq!(NiceSteps::parse(Some(raw)).map(NiceSteps::get), Ok(steps));
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_variable_named() {
        for raw in ["-1", "20", "2.5", "low"] {
            let error = NiceSteps::parse(Some(raw)).expect_err(raw);
            assert!(error.contains(ENV) && error.contains(raw), "{error}");
        }
    }

    #[test]
    fn zero_steps_leave_threads_alone() {
        assert_eq!(NiceSteps(0).below_this_thread(), ThreadPriority::default());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn runtime_threads_run_the_given_steps_below_the_starting_thread() {
        let base = current_nice().expect("nice of this thread");
        let priority = NiceSteps(3).below_this_thread();
        assert_eq!(priority.nice(), Some((base + 3).min(LOWEST)));
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(1);
        priority.for_runtime(&mut builder);
        let runtime = builder.build().expect("runtime");
        let worker = runtime
            .block_on(async { tokio::spawn(async { current_nice() }).await })
            .expect("task");
        assert_eq!(worker, priority.nice());
        assert_eq!(
            current_nice(),
            Some(base),
            "the starting thread keeps its priority"
        );
    }
}
