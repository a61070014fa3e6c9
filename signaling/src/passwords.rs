//! Password hashing (argon2id) with a bound on its cost. Each hash fills 19 MiB of memory and
//! keeps a core busy for tens of milliseconds, so an unbounded number of sign-ins at once is a
//! denial of service: hundreds of blocking threads, each with its own 19 MiB, kept by the
//! allocator afterwards. `Passwords` runs at most one hash per core at a time, each in a memory
//! block taken from a pool of that many (allocated on first use, then reused, so resident
//! memory stays flat however many sign-ins come), and makes the rest wait their turn for a
//! bounded time before answering "busy".

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing slot stayed taken for the whole wait, or too many are already waiting.
    #[error("the server is busy checking other passwords")]
    Busy,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task ended abnormally")]
    Task(#[from] tokio::task::JoinError),
}

impl From<argon2::password_hash::Error> for PasswordError {
    fn from(err: argon2::password_hash::Error) -> Self {
        PasswordError::Hash(err.to_string())
    }
}

impl From<argon2::Error> for PasswordError {
    fn from(err: argon2::Error) -> Self {
        PasswordError::Hash(err.to_string())
    }
}

/// How long a sign-in may wait for a hashing slot before it is answered "busy".
pub const MAX_WAIT: Duration = Duration::from_secs(5);

/// The bounded password hasher. Cheap to share behind an `Arc`.
pub struct Passwords {
    slots: Arc<Semaphore>,
    /// Memory for one hash each; never more than `slots` of them.
    memory: Mutex<Vec<Vec<Block>>>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("free_slots", &self.slots.available_permits())
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// At most `concurrent` hashes at once (at least one); up to 64 sign-ins per slot wait.
    pub fn new(concurrent: usize, max_wait: Duration) -> Passwords {
        let concurrent = concurrent.max(1);
        Passwords {
            slots: Arc::new(Semaphore::new(concurrent)),
            memory: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            max_waiting: concurrent * 64,
            max_wait,
        }
    }

    /// One slot per core.
    pub fn per_core() -> Passwords {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Passwords::new(cores, MAX_WAIT)
    }

    /// Hash a new password as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
    pub async fn hash(self: &Arc<Self>, password: String) -> Result<String, PasswordError> {
        self.run(move |memory| hash_with(memory, password.as_bytes()))
            .await
    }

    /// Check a password against a stored hash; with no hash (no such account, or one without
    /// a password), burn the same time and fail, so the answer time does not tell whether the
    /// account exists. A stored hash that cannot be read fails too.
    pub async fn verify(
        self: &Arc<Self>,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.run(
            move |memory| match stored.as_deref().map(PasswordHash::new) {
                Some(Ok(parsed)) => Ok(verify_with(memory, password.as_bytes(), &parsed)
                    .unwrap_or_else(|err| {
                        tracing::warn!(%err, "a stored password hash cannot be checked");
                        false
                    })),
                _ => {
                    hash_with(memory, password.as_bytes())?;
                    Ok(false)
                }
            },
        )
        .await
    }

    /// Wait for a slot (bounded), then run `work` on a blocking thread with pooled memory.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        let slot = match self.slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.max_waiting {
                    self.waiting.fetch_sub(1, Ordering::Relaxed);
                    return Err(PasswordError::Busy);
                }
                let waited =
                    tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned()).await;
                self.waiting.fetch_sub(1, Ordering::Relaxed);
                match waited {
                    Ok(Ok(slot)) => slot,
                    _ => return Err(PasswordError::Busy),
                }
            }
        };
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = this.take_memory();
            let result = work(&mut memory);
            this.give_back(memory);
            drop(slot);
            result
        })
        .await?
    }

    fn take_memory(&self) -> Vec<Block> {
        self.memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_default()
    }

    fn give_back(&self, memory: Vec<Block>) {
        self.memory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(memory);
    }
}

/// `memory` sized for `params`, growing it the first time (the only allocation it makes).
fn blocks_for<'m>(memory: &'m mut Vec<Block>, params: &Params) -> &'m mut [Block] {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::new());
    }
    &mut memory[..needed]
}

fn hash_with(memory: &mut Vec<Block>, password: &[u8]) -> Result<String, PasswordError> {
    let params = Params::default();
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes)?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    argon.hash_password_into_with_memory(
        password,
        salt_raw,
        &mut out,
        blocks_for(memory, &params),
    )?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out)?),
    };
    Ok(phc.to_string())
}

fn verify_with(
    memory: &mut Vec<Block>,
    password: &[u8],
    stored: &PasswordHash<'_>,
) -> Result<bool, PasswordError> {
    let algorithm = Algorithm::try_from(stored.algorithm)?;
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(stored)?;
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return Err(PasswordError::Hash("the hash has no salt or output".into()));
    };
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt.decode_b64(&mut salt_bytes)?;
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password,
        salt_raw,
        &mut out,
        blocks_for(memory, &params),
    )?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out)? == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    fn passwords() -> Arc<Passwords> {
        Arc::new(Passwords::new(2, Duration::from_secs(5)))
    }

    #[tokio::test]
    async fn pooled_hashes_are_standard_phc_argon2id() {
        let pw = passwords();
        let hash = pw.hash("correct horse".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"wrong horse", &parsed)
            .is_err());
    }

    #[tokio::test]
    async fn verifies_hashes_made_elsewhere_and_refuses_wrong_passwords() {
        let pw = passwords();
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        // Other parameters than ours, as an older server might have stored.
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 3, 1, None).unwrap(),
        )
        .hash_password(b"s3cret-pass", &salt)
        .unwrap()
        .to_string();
        assert!(pw
            .verify("s3cret-pass".into(), Some(other.clone()))
            .await
            .unwrap());
        assert!(!pw.verify("s3cret-pasS".into(), Some(other)).await.unwrap());
        assert!(!pw.verify("anything".into(), None).await.unwrap());
        assert!(!pw
            .verify("anything".into(), Some("not a hash".into()))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn memory_is_pooled_per_slot() {
        let pw = passwords();
        let jobs: Vec<_> = (0..8)
            .map(|i| {
                let pw = pw.clone();
                tokio::spawn(async move { pw.hash(format!("password {i}")).await })
            })
            .collect();
        for job in jobs {
            job.await.unwrap().unwrap();
        }
        let pooled = pw.memory.lock().unwrap();
        assert!(pooled.len() <= 2, "{} memory blocks kept", pooled.len());
    }

    #[tokio::test]
    async fn waiting_past_the_limit_is_busy() {
        let pw = Arc::new(Passwords::new(1, Duration::from_millis(1)));
        let held = pw.slots.clone().acquire_owned().await.unwrap();
        let answer = pw.hash("password".into()).await;
        assert!(matches!(answer, Err(PasswordError::Busy)), "{answer:?}");
        drop(held);
        pw.hash("password".into()).await.unwrap();
    }
}
