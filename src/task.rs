//! Connection tasks: a panic in one is logged and ends only that connection.

use futures_util::FutureExt;
use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// Runs `work`, turning a panic into an error log instead of a lost task.
/// (The connection's guards still run while unwinding, so it leaves the hub.)
pub async fn contain_panics(what: &'static str, work: impl Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(work).catch_unwind().await {
        tracing::error!(
            task = what,
            panic = panic_message(&*panic),
            "task panicked; its connection was dropped"
        );
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_contained() {
        contain_panics("test", async { panic!("boom") }).await;
        contain_panics("test", async {}).await;
    }

    #[test]
    fn messages_are_extracted() {
        let text: Box<dyn Any + Send> = Box::new("static");
        assert_eq!(panic_message(&*text), "static");
        let owned: Box<dyn Any + Send> = Box::new(String::from("owned"));
        assert_eq!(panic_message(&*owned), "owned");
    }
}
