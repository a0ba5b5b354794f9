//! A bounded pool for CPU-heavy work (password hashing).
//!
//! At most `workers` jobs run at once, on the pool's own threads so the async workers stay
//! free for other requests; at most `queue` more wait for a turn. Anything beyond that is
//! refused with [`HashingError::Overloaded`] once its `Retry-After` has passed (see
//! [`HashingPool::hold_refusal`]), so a login flood can neither starve other requests nor
//! pile up memory. A caller with work to do before its job (a login reads the database
//! before it verifies) takes its place first ([`HashingPool::admit`]) and holds it through
//! that work, so no more callers than the pool will take get as far as the database.
//!
//! The threads are few and fixed (not tokio's growing blocking pool): each keeps the memory
//! of its last argon2 hash for the next while busy, and gives it back after a few idle
//! seconds, so memory stays at `workers` hashes' worth at most. On
//! Linux they run at a lower scheduling priority (nice 10), so when the cores are busy a
//! request that needs no hash is served first; with idle cores hashing runs at full speed.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::{Duration, Instant};

use gatehouse_domain::ports::HashingError;
use tokio::sync::Semaphore;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Told how long each job waited for a worker (from the call until a thread took it up).
pub type WaitObserver = Arc<dyn Fn(Duration) + Send + Sync>;

/// The nice value of hashing threads: below request handling, above idle work.
const HASHING_NICE: i32 = 10;

/// A thread idle this long gives its kept argon2 memory back (a busy one keeps it from one
/// hash to the next: see `kept_memory.rs`).
const IDLE: Duration = Duration::from_secs(2);

#[derive(Debug)]
pub struct HashingPool {
    permits: Arc<Semaphore>,
    jobs: Mutex<mpsc::Sender<Job>>,
    workers: usize,
    queue: usize,
    admitted: Arc<AtomicUsize>,
    retry_after: Duration,
    refused: AtomicU64,
    on_wait: OnceLock<Observer>,
}

/// A [`WaitObserver`] that a `Debug` pool can hold.
struct Observer(WaitObserver);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WaitObserver")
    }
}

/// A place among the `workers + queue` jobs the pool takes, from admission until the job it
/// was taken for ends (or the caller gives up): dropping it gives the place back.
#[derive(Debug)]
pub struct Admission(Arc<AtomicUsize>);

impl Drop for Admission {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashingPool {
    /// `workers` concurrent jobs (at least one) and room for `queue` waiting ones.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("hashing-{index}"))
                .spawn(move || {
                    lower_priority();
                    // Ends when the pool, and with it the sender, is dropped.
                    loop {
                        let job = match receiver.lock() {
                            Ok(receiver) => receiver.recv_timeout(IDLE),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(mpsc::RecvTimeoutError::Timeout) => {
                                crate::kept_memory::release_kept_memory();
                            }
                            Err(mpsc::RecvTimeoutError::Disconnected) => return,
                        }
                    }
                })
                .expect("a hashing thread");
        }
        Self {
            permits: Arc::new(Semaphore::new(workers)),
            jobs: Mutex::new(jobs),
            workers,
            queue,
            admitted: Arc::new(AtomicUsize::new(0)),
            retry_after: Duration::from_secs(1),
            refused: AtomicU64::new(0),
            on_wait: OnceLock::new(),
        }
    }

    /// Tells `observer` how long every job from now on waited for a worker (metrics). Only
    /// the first observer set is kept.
    pub fn observe_waits(&self, observer: WaitObserver) {
        let _ = self.on_wait.set(Observer(observer));
    }

    /// Jobs admitted and not yet ended: running, and waiting for a worker.
    pub fn admitted(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }

    /// Jobs waiting for a worker now.
    pub fn queued(&self) -> usize {
        self.admitted().saturating_sub(self.workers)
    }

    /// Jobs refused because the queue was full, since the pool started.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// One worker per available core.
    pub fn per_core(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Self::new(cores, queue)
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// A place for one job, if one is free: for callers that do costly work (database
    /// reads) before the job, so that no more of them get that far than the pool will take.
    /// Hand it to [`HashingPool::run_admitted`].
    pub fn admit(&self) -> Option<Admission> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admission = Admission(self.admitted.clone());
        (before < self.workers + self.queue).then_some(admission)
    }

    /// How long a refused caller is told to wait.
    pub fn retry_after(&self) -> Duration {
        self.retry_after
    }

    /// Waits out the `Retry-After` a refusal announces before it is sent. A timer costs no
    /// CPU, and a flood that ignores the header is slowed to one attempt per connection per
    /// interval instead of spinning on instant refusals and starving everyone else.
    pub async fn hold_refusal(&self) {
        tokio::time::sleep(self.retry_after).await;
    }

    /// Runs `job` on a hashing thread once a worker is free.
    /// Returns [`HashingError::Overloaded`] (after [`HashingPool::hold_refusal`]) when the
    /// queue is full.
    pub async fn run<T, F>(&self, job: F) -> Result<T, HashingError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        match self.admit() {
            Some(admission) => self.run_admitted(admission, job).await,
            None => Err(self.refuse().await),
        }
    }

    /// Refuses, once the `Retry-After` it announces has passed.
    pub async fn refuse(&self) -> HashingError {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.hold_refusal().await;
        HashingError::Overloaded {
            retry_after: self.retry_after,
        }
    }

    /// Runs `job` in the place `admission` holds ([`HashingPool::admit`]), once a worker is
    /// free. An admission from another pool holds no place here: the job asks for one.
    pub async fn run_admitted<T, F>(&self, admission: Admission, job: F) -> Result<T, HashingError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let admission = if Arc::ptr_eq(&admission.0, &self.admitted) {
            admission
        } else {
            drop(admission);
            match self.admit() {
                Some(own) => own,
                None => return Err(self.refuse().await),
            }
        };
        self.run_in_place(admission, job).await
    }

    /// This pool's identity, for places held outside it ([`Self::run_in_place`]).
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.admitted) as usize
    }

    /// Runs `job` in a place of this pool already held by `place` (an [`Admission`], or a
    /// guard that owns one), once a worker is free; the place is given back when the job
    /// ends or the caller gives up.
    pub async fn run_in_place<T, F>(
        &self,
        place: impl Send + 'static,
        job: F,
    ) -> Result<T, HashingError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _place = place;
        let asked = Instant::now();
        let on_wait = self.on_wait.get().map(|observer| observer.0.clone());
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| HashingError::Failed("hashing pool closed".into()))?;
        // The permit moves into the job, so a caller that gives up mid-hash still holds its
        // worker until the hash ends: never more than `workers` jobs are handed over at once.
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            if let Some(observe) = on_wait {
                observe(asked.elapsed());
            }
            let _ = done.send(job());
        });
        self.jobs
            .lock()
            .map_err(|_| HashingError::Failed("hashing pool poisoned".into()))?
            .send(job)
            .map_err(|_| HashingError::Failed("hashing threads stopped".into()))?;
        result
            .await
            .map_err(|_| HashingError::Failed("a hashing job panicked".into()))
    }
}

/// Lowers the calling thread's scheduling priority (Linux applies `setpriority` to a single
/// thread). Best effort: without it hashing merely competes as an equal.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; `who = 0` is the calling thread.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, HASHING_NICE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = HASHING_NICE;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refuses_work_beyond_workers_plus_queue() {
        let pool = Arc::new(HashingPool::new(1, 1));
        let (release, gate) = mpsc::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(gate));

        let running = {
            let pool = pool.clone();
            let gate = gate.clone();
            tokio::spawn(
                async move { pool.run(move || gate.lock().unwrap().recv().unwrap()).await },
            )
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| 7).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;

        let refused = pool.run(|| 1).await;
        assert!(matches!(refused, Err(HashingError::Overloaded { .. })));

        release.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert_eq!(queued.await.unwrap().unwrap(), 7);
        // Slots are given back: the pool accepts work again.
        assert_eq!(pool.run(|| 3).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn an_admission_holds_its_place_until_its_job_ends_or_it_is_dropped() {
        let pool = HashingPool::new(1, 1);
        let first = pool.admit().expect("a free place");
        let second = pool.admit().expect("a place in the queue");
        // Both places are held while their callers do other work: nobody else gets in,
        // neither by admission nor by running a job directly.
        assert!(pool.admit().is_none());
        assert!(matches!(
            pool.run(|| 1).await,
            Err(HashingError::Overloaded { .. })
        ));
        // A job run in a held place takes no other, and gives it back when it ends.
        assert_eq!(pool.run_admitted(first, || 5).await.unwrap(), 5);
        let third = pool.admit().expect("the place given back");
        assert!(pool.admit().is_none());
        // Dropped unused, a place is given back too.
        drop(second);
        drop(third);
        assert_eq!(pool.run(|| 3).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn an_admission_from_another_pool_holds_no_place_here() {
        let pool = HashingPool::new(1, 0);
        let other = HashingPool::new(1, 0);
        let foreign = other.admit().expect("a place in the other pool");
        let held = pool.admit().expect("the only place");
        assert!(matches!(
            pool.run_admitted(foreign, || 1).await,
            Err(HashingError::Overloaded { .. })
        ));
        assert_eq!(pool.run_admitted(held, || 2).await.unwrap(), 2);
    }
}
