//! A Secret Service of a test's own: a private D-Bus session bus (its own
//! `dbus-daemon`, on which nothing is ever activated) and Debian's
//! `gnome-keyring-daemon` on it, its login collection created and
//! unlocked with a password of the test's, its files in a folder of its
//! own. Processes reach it through [`KeyringDaemon::bus_address`] in
//! `DBUS_SESSION_BUS_ADDRESS`; the test looks at it with `dbus-send`. Both
//! daemons are stopped by their PIDs when it is dropped, and every wait is
//! bounded.

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Once,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// The Secret Service's name on the bus.
const SECRETS: &str = "org.freedesktop.secrets";
/// How long the daemons may take to come up, and a `dbus-send` to answer.
const BOUND: Duration = Duration::from_secs(10);

/// A running session bus with an unlocked gnome-keyring on it; dropping it
/// stops both.
#[derive(Debug)]
pub struct KeyringDaemon {
    bus: Option<Child>,
    keyring: Option<Child>,
    dir: PathBuf,
    address: String,
}

/// An item of the keyring, as the test sees it from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringItem {
    /// Its D-Bus object path.
    pub path: String,
    /// The label a person sees in a keyring manager.
    pub label: String,
    /// Its attributes, which searches match on.
    pub attributes: BTreeMap<String, String>,
}

impl KeyringDaemon {
    /// A new bus and keyring, the login collection unlocked and the
    /// `default` alias on it. Needs `dbus-daemon`, `dbus-send` and
    /// `gnome-keyring-daemon` (installed with apt-get when missing).
    pub fn start() -> std::io::Result<Self> {
        install_once();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcp-oauth-keyring-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        for sub in ["", "home", "data", "config", "cache", "run"] {
            private_dir(&dir.join(sub))?;
        }
        let socket = dir.join("bus");
        let mut daemon = Self {
            bus: None,
            keyring: None,
            address: format!("unix:path={}", socket.display()),
            dir,
        };
        daemon.start_bus(&socket)?;
        daemon.start_keyring()?;
        Ok(daemon)
    }

    /// The value of `DBUS_SESSION_BUS_ADDRESS` that reaches it.
    pub fn bus_address(&self) -> &str {
        &self.address
    }

    /// Locks the login collection. Nothing can unlock it again: no prompter
    /// can be started on this bus, so every unlock prompt is dismissed.
    pub fn lock(&self) -> std::io::Result<()> {
        self.call(&[
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            "array:objpath:/org/freedesktop/secrets/collection/login",
        ])
        .map(drop)
    }

    /// Stops the keyring and keeps the bus: a session without a Secret
    /// Service.
    pub fn stop_keyring(&mut self) {
        stop(self.keyring.take());
    }

    /// The items whose attributes include all of `attributes`, locked or
    /// not, with their labels and attributes (never their secrets).
    pub fn items(&self, attributes: &[(&str, &str)]) -> std::io::Result<Vec<KeyringItem>> {
        let pairs: Vec<String> = attributes
            .iter()
            .map(|(key, value)| format!("{key},{value}"))
            .collect();
        let search = format!("dict:string:string:{}", pairs.join(","));
        let found = self.call(&[
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.SearchItems",
            &search,
        ])?;
        let mut items = Vec::new();
        for path in quoted_after(&found, "object path ") {
            let property = |name: &str| {
                self.call(&[
                    &path,
                    "org.freedesktop.DBus.Properties.Get",
                    "string:org.freedesktop.Secret.Item",
                    &format!("string:{name}"),
                ])
            };
            let label = quoted_after(&property("Label")?, "string ")
                .into_iter()
                .next()
                .unwrap_or_default();
            let strings = quoted_after(&property("Attributes")?, "string ");
            let attributes = strings
                .chunks(2)
                .filter_map(|pair| match pair {
                    [key, value] => Some((key.clone(), value.clone())),
                    _ => None,
                })
                .collect();
            items.push(KeyringItem {
                path,
                label,
                attributes,
            });
        }
        Ok(items)
    }

    fn start_bus(&mut self, socket: &Path) -> std::io::Result<()> {
        // A session bus that activates nothing: no second keyring started
        // behind the test's back, no prompter.
        let config = self.dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )?;
        self.bus = Some(
            Command::new("dbus-daemon")
                .arg(format!("--config-file={}", config.display()))
                .args(["--nofork", "--nopidfile"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        self.wait_for("the session bus", || {
            socket.exists()
                && self
                    .bus_call(&["org.freedesktop.DBus.GetId"])
                    .is_ok_and(|reply| reply.contains("string"))
        })
    }

    fn start_keyring(&mut self) -> std::io::Result<()> {
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("HOME", self.dir.join("home"))
            .env("XDG_DATA_HOME", self.dir.join("data"))
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("XDG_CACHE_HOME", self.dir.join("cache"))
            .env("XDG_RUNTIME_DIR", self.dir.join("run"))
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("GNOME_KEYRING_CONTROL")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        // The password of the login collection, created with it; the end of
        // stdin ends the password.
        if let Some(mut stdin) = keyring.stdin.take() {
            stdin.write_all(b"test-keyring-password")?;
        }
        self.keyring = Some(keyring);
        self.wait_for("gnome-keyring-daemon on the bus", || {
            self.bus_call(&[
                "org.freedesktop.DBus.NameHasOwner",
                &format!("string:{SECRETS}"),
            ])
            .is_ok_and(|reply| reply.contains("boolean true"))
        })
    }

    /// Waits until `ready`, for [`BOUND`] at most.
    fn wait_for(&self, what: &str, mut ready: impl FnMut() -> bool) -> std::io::Result<()> {
        let deadline = Instant::now() + BOUND;
        while !ready() {
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "{what} did not come up within {BOUND:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// A call to the bus itself.
    fn bus_call(&self, method: &[&str]) -> std::io::Result<String> {
        let mut args = vec!["--dest=org.freedesktop.DBus", "/org/freedesktop/DBus"];
        args.extend(method);
        self.dbus_send(&args)
    }

    /// A call to the Secret Service: object path, method, arguments.
    fn call(&self, args: &[&str]) -> std::io::Result<String> {
        let dest = format!("--dest={SECRETS}");
        let mut all = vec![dest.as_str()];
        all.extend(args);
        self.dbus_send(&all)
    }

    /// `dbus-send` on this bus, bounded; its reply as printed.
    fn dbus_send(&self, args: &[&str]) -> std::io::Result<String> {
        let mut child = Command::new("dbus-send")
            .arg(format!("--bus={}", self.address))
            .args(["--print-reply", "--reply-timeout=5000"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let deadline = Instant::now() + BOUND;
        loop {
            if child.try_wait()?.is_some() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(std::io::Error::other("dbus-send did not finish"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let output = child.wait_with_output()?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(std::io::Error::other(format!(
                "dbus-send {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    }
}

impl Drop for KeyringDaemon {
    fn drop(&mut self) {
        stop(self.keyring.take());
        stop(self.bus.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Kills `child`, if any, and reaps it.
fn stop(child: Option<Child>) {
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The quoted texts that follow `prefix` in `dbus-send`'s printout, one a
/// line: `object path "/a/b"`, `string "x"`.
fn quoted_after(printout: &str, prefix: &str) -> Vec<String> {
    printout
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix(prefix)
                .or_else(|| line.strip_prefix("variant ")?.trim().strip_prefix(prefix))?;
            Some(rest.strip_prefix('"')?.strip_suffix('"')?.to_owned())
        })
        .collect()
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Debian's dbus-daemon, dbus-send and gnome-keyring-daemon, installed with
/// apt-get when missing (as `.ci/run` does on a clean machine).
fn install_once() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let present = |program: &str| {
            Command::new("sh")
                .args(["-c", &format!("command -v {program}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
        };
        if !(present("dbus-daemon") && present("dbus-send") && present("gnome-keyring-daemon")) {
            let _ = Command::new("apt-get")
                .args([
                    "install",
                    "-y",
                    "-qq",
                    "dbus-daemon",
                    "dbus-bin",
                    "gnome-keyring",
                ])
                .stdout(Stdio::null())
                .status();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbus_send_printouts_are_read() {
        let printout = "method return time=1 sender=:1.0 -> destination=:1.2 serial=3\n   \
            array [\n      object path \"/org/freedesktop/secrets/collection/login/1\"\n   ]\n   \
            array [\n   ]\n";
        assert_eq!(
            quoted_after(printout, "object path "),
            ["/org/freedesktop/secrets/collection/login/1"]
        );
        let label = "method return\n   variant       string \"mcp-oauth: x\"\n";
        assert_eq!(quoted_after(label, "string "), ["mcp-oauth: x"]);
    }
}
