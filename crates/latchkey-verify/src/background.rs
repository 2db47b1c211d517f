//! A background task that stops gracefully: told to stop, it finishes the
//! step it is in (a chunk of usage, a sweep), and whoever stops it waits
//! for that. The usage flusher ([`crate::KeyVerifier::spawn_flusher`]) and
//! the server's rotation sweeper are such tasks.

use std::future::Future;

use tokio::sync::watch;

/// A running background task; [`Background::stop`] ends it.
#[derive(Debug)]
pub struct Background {
    /// What the task is, for the log line if it panicked.
    name: &'static str,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Background {
    /// Starts `run` on the current runtime; it is given the stop signal,
    /// set (`true`) once the task is to stop.
    pub fn spawn<F, Fut>(name: &'static str, run: F) -> Self
    where
        F: FnOnce(watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = watch::channel(false);
        Self { name, stop, task: tokio::spawn(run(stopped)) }
    }

    /// Tells the task to stop and waits until it has finished what it was
    /// doing.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await
            && e.is_panic()
        {
            tracing::error!(error = %e, task = self.name, "a background task panicked");
        }
    }
}
