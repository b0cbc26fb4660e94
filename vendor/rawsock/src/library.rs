use std::ffi::{c_char, OsStr, OsString};
use std::fmt::{Debug, Display, Formatter, Result as FmtResult};
use std::ptr;
use std::sync::Arc;

use crate::ffi::{self, Api, LoadError, PcapIf, PCAP_ERRBUF_SIZE};
use crate::interface::{self, Config, Interface};
use crate::Error;

/// An opened packet capture library: libpcap, or Npcap's wpcap.dll on Windows.
///
/// Cheap to clone; the library stays loaded while a clone or any interface
/// opened from it is alive.
#[derive(Clone)]
pub struct Library {
    api: Arc<Api>,
}

/// Opens the best library for the platform (see [`Library::default_paths`]).
///
/// A missing library is an [`Error::LibraryNotFound`], whose `Display`
/// tells the user what to install.
pub fn open_best_library() -> Result<Library, Error> {
    Library::open_default_paths()
}

impl Library {
    /// Where this platform's library is looked for, best first:
    ///
    /// * Windows: `%SystemRoot%\System32\Npcap\wpcap.dll` (the only place
    ///   Npcap installs it unless "WinPcap API-compatible mode" was chosen;
    ///   the full path comes from `GetSystemDirectoryW`), loaded so that its
    ///   own directory and System32 are searched for its `Packet.dll`; then
    ///   `wpcap.dll` from System32 only (Npcap in compatible mode, WinPcap,
    ///   Wine): never from the application directory, the current directory
    ///   or PATH, where a planted DLL could wait.
    /// * Linux and other Unixes: `libpcap.so.1`, `libpcap.so.0.8` (Debian's
    ///   soname), `libpcap.so` (only present with the -dev package).
    /// * macOS: `libpcap.A.dylib`, `libpcap.dylib`.
    // Npcap's DLL directory: https://npcap.com/guide/npcap-devguide.html#npcap-feature-native-dll
    pub fn default_paths() -> Vec<OsString> {
        default_paths()
    }

    /// Opens the first of [`Library::default_paths`] that loads.
    pub fn open_default_paths() -> Result<Library, Error> {
        Library::open_paths(default_paths())
    }

    /// Opens the first of `paths` that loads and exports what this crate needs.
    ///
    /// If none loads, the error is [`Error::LibraryNotFound`]; if one loaded
    /// but lacked a function, the error says which.
    pub fn open_paths<I, P>(paths: I) -> Result<Library, Error>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<OsStr>,
    {
        let mut attempts = Vec::new();
        let mut unusable = None;
        for path in paths {
            let path = path.as_ref();
            let name = path.to_string_lossy();
            match Api::load(path) {
                Ok(api) => return Ok(Library { api: Arc::new(api) }),
                // dlerror() texts usually start with the path already.
                Err(LoadError::NotLoaded(reason)) if reason.starts_with(&*name) => {
                    attempts.push(reason);
                }
                Err(LoadError::NotLoaded(reason)) => attempts.push(format!("{name}: {reason}")),
                Err(LoadError::Unusable(e)) => {
                    attempts.push(e.to_string());
                    unusable = Some(e);
                }
            }
        }
        Err(unusable.unwrap_or(Error::LibraryNotFound { attempts }))
    }

    /// Opens the library at `path` (a file name for the system's search, or a path).
    pub fn open<P: AsRef<OsStr>>(path: P) -> Result<Library, Error> {
        Library::open_paths([path])
    }

    /// The path or name the library was loaded from.
    pub fn path(&self) -> &str {
        &self.api.path
    }

    /// The library's version text (`pcap_lib_version`), e.g.
    /// "libpcap version 1.10.3 (with TPACKET_V3)" or
    /// "Npcap version 1.79, based on libpcap version 1.10.4".
    // Npcap's form: https://npcap.com/guide/npcap-devguide.html#npcap-detect-run-time
    pub fn version(&self) -> String {
        self.api.version()
    }

    /// The libpcap version the library is or is based on, from
    /// [`Library::version`]: `(1, 10, 4)` for "Npcap version 1.79, based on
    /// libpcap version 1.10.4" and for "libpcap version 1.10.4 (with
    /// TPACKET_V3)". None for texts without one (WinPcap's "WinPcap version
    /// 4.1.3").
    pub fn libpcap_version(&self) -> Option<(u32, u32, u32)> {
        libpcap_version(&self.version())
    }

    /// Whether a [`crate::Breaker`] wakes a receive blocked in the library at
    /// once, rather than at the end of the read timeout: libpcap >= 1.10 on
    /// Linux and Windows (Npcap based on it). Elsewhere (macOS, BSD, older
    /// versions) only the read timeout ends the wait.
    // libpcap 1.10 made pcap_breakloop signal what the reader waits on: an
    // eventfd on Linux (https://github.com/the-tcpdump-group/libpcap/issues/903,
    // fixed in 1.10.0), the adapter's read event on Windows
    // (pcap_breakloop_npf calls SetEvent(PacketGetReadEvent(...)); "not in
    // any 1.9.x release": https://github.com/the-tcpdump-group/libpcap/issues/734;
    // in Npcap since it moved to libpcap 1.10: https://github.com/nmap/npcap/issues/276).
    pub fn breakloop_wakes_reader(&self) -> bool {
        breakloop_wakes_reader(self.libpcap_version())
    }

    /// Whether the library exports `pcap_create`/`pcap_activate`. Without
    /// them interfaces are opened with `pcap_open_live` and immediate mode
    /// and nanosecond time stamps are unavailable.
    pub fn supports_pcap_create(&self) -> bool {
        self.api.create.is_some()
    }

    /// Whether the library exports `pcap_set_immediate_mode` (Wine's
    /// wpcap.dll and libpcap < 1.5 do not).
    pub fn supports_immediate_mode(&self) -> bool {
        self.api.create.is_some() && self.api.set_immediate_mode.is_some()
    }

    /// The capture devices (`pcap_findalldevs`), with their descriptions.
    /// Windows names look like `\Device\NPF_{GUID}`.
    pub fn all_interfaces(&self) -> Result<Vec<InterfaceDescription>, Error> {
        let mut list: *mut PcapIf = ptr::null_mut();
        let mut errbuf = [0 as c_char; PCAP_ERRBUF_SIZE];
        // SAFETY: `list` and `errbuf` (PCAP_ERRBUF_SIZE bytes) are valid for
        // writes; pcap_findalldevs is thread-safe.
        let rc = unsafe { (self.api.findalldevs)(&mut list, errbuf.as_mut_ptr()) };
        if rc != 0 {
            return Err(Error::GettingDeviceList(ffi::local_errbuf_text(&errbuf)));
        }
        let mut found = Vec::new();
        let mut cur = list;
        while !cur.is_null() {
            // SAFETY: `cur` is an element of the list pcap_findalldevs made;
            // it stays valid until pcap_freealldevs below, and its strings are
            // NULL or NUL-terminated.
            let (name, description, flags, next) = unsafe {
                let d = &*cur;
                (
                    ffi::static_text(d.name),
                    Some(ffi::static_text(d.description)).filter(|s| !s.is_empty()),
                    d.flags,
                    d.next,
                )
            };
            found.push(InterfaceDescription {
                name,
                description,
                flags,
            });
            cur = next;
        }
        if !list.is_null() {
            // SAFETY: `list` came from pcap_findalldevs and is freed once;
            // nothing points into it any more (the strings were copied).
            unsafe { (self.api.freealldevs)(list) };
        }
        Ok(found)
    }

    /// Opens `name` with [`Config::default`] (snaplen 65535, promiscuous off,
    /// 10 ms read timeout, immediate mode on).
    pub fn open_interface(&self, name: &str) -> Result<Interface, Error> {
        self.open_interface_with(name, &Config::default())
    }

    /// Opens `name` with `config`.
    pub fn open_interface_with(&self, name: &str, config: &Config) -> Result<Interface, Error> {
        interface::open(&self.api, name, config)
    }

    /// The library's functions.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn api(&self) -> &Arc<Api> {
        &self.api
    }
}

impl Debug for Library {
    fn fmt(&self, f: &mut Formatter<'_>) -> FmtResult {
        f.debug_struct("Library")
            .field("path", &self.api.path)
            .field("version", &self.version())
            .field("pcap_create", &self.supports_pcap_create())
            .field("immediate_mode", &self.supports_immediate_mode())
            .finish()
    }
}

/// A capture device as `pcap_findalldevs` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InterfaceDescription {
    /// The name to pass to [`Library::open_interface`] (`eth0`,
    /// `\Device\NPF_{GUID}`).
    pub name: String,
    /// Human-friendly description, when the library has one.
    pub description: Option<String>,
    /// `PCAP_IF_*` flags.
    pub flags: u32,
}

impl InterfaceDescription {
    /// `PCAP_IF_LOOPBACK`.
    pub fn is_loopback(&self) -> bool {
        self.flags & ffi::PCAP_IF_LOOPBACK != 0
    }

    /// `PCAP_IF_UP` (libpcap >= 1.6.1 sets it).
    pub fn is_up(&self) -> bool {
        self.flags & ffi::PCAP_IF_UP != 0
    }

    /// `PCAP_IF_RUNNING` (libpcap >= 1.6.1 sets it).
    pub fn is_running(&self) -> bool {
        self.flags & ffi::PCAP_IF_RUNNING != 0
    }
}

impl Display for InterfaceDescription {
    fn fmt(&self, f: &mut Formatter<'_>) -> FmtResult {
        match &self.description {
            Some(d) => write!(f, "{}, {}", self.name, d),
            None => f.write_str(&self.name),
        }
    }
}

/// The `major.minor.patch` after "libpcap version " in a
/// `pcap_lib_version` text (a missing patch counts as 0).
fn libpcap_version(text: &str) -> Option<(u32, u32, u32)> {
    let (_, rest) = text.split_once("libpcap version ")?;
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = number.split('.').map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = parts.next().and_then(Result::ok).unwrap_or(0);
    Some((major, minor, patch))
}

/// See [`Library::breakloop_wakes_reader`].
fn breakloop_wakes_reader(version: Option<(u32, u32, u32)>) -> bool {
    cfg!(any(windows, target_os = "linux")) && version.is_some_and(|v| v >= (1, 10, 0))
}

/// Whether Npcap was installed with "Restrict Npcap driver's access to
/// Administrators only": the `AdminOnly` DWORD under
/// `HKLM\SYSTEM\CurrentControlSet\Services\npcap\Parameters`, 1 when
/// checked. None when the value cannot be read (no Npcap, or not Windows).
// Npcap's guide: https://npcap.com/guide/npcap-devguide.html#npcap-detect-install-time
pub fn npcap_admin_only() -> Option<bool> {
    #[cfg(windows)]
    {
        npcap_parameter("AdminOnly").map(|v| v == 1)
    }
    #[cfg(not(windows))]
    {
        None
    }
}

/// The file a loaded module was mapped from (`GetModuleFileNameW`), by the
/// name it was loaded as (`wpcap.dll`, or a full path): which copy of the
/// library runs. None when no module of that name is loaded.
#[cfg(windows)]
pub fn module_file(name: &str) -> Option<String> {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleFileNameW, GetModuleHandleW};
    let wide: Vec<u16> = name.encode_utf16().chain([0]).collect();
    // SAFETY: `wide` is a NUL-terminated UTF-16 string that lives through
    // the call; GetModuleHandleW takes no reference, so nothing is freed.
    let module = unsafe { GetModuleHandleW(wide.as_ptr()) };
    if module.is_null() {
        return None;
    }
    let mut buffer = vec![0u16; 1024];
    // SAFETY: `module` is a loaded module's handle; `buffer` is writable for
    // the length passed.
    let n = unsafe { GetModuleFileNameW(module, buffer.as_mut_ptr(), buffer.len() as u32) };
    let n = n as usize;
    (n > 0 && n < buffer.len()).then(|| String::from_utf16_lossy(&buffer[..n]))
}

/// A DWORD value of Npcap's `Parameters` registry key.
#[cfg(windows)]
fn npcap_parameter(name: &str) -> Option<u32> {
    use windows_sys::Win32::System::Registry::{
        RegGetValueW, HKEY_LOCAL_MACHINE, RRF_RT_REG_DWORD,
    };
    let wide = |s: &str| s.encode_utf16().chain([0]).collect::<Vec<u16>>();
    let key = wide(r"SYSTEM\CurrentControlSet\Services\npcap\Parameters");
    let value = wide(name);
    let mut data: u32 = 0;
    let mut size = std::mem::size_of::<u32>() as u32;
    // SAFETY: `key` and `value` are NUL-terminated UTF-16 strings; `data` is
    // a writable DWORD and `size` says so; the type pointer may be NULL.
    let rc = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            key.as_ptr(),
            value.as_ptr(),
            RRF_RT_REG_DWORD,
            ptr::null_mut(),
            (&mut data as *mut u32).cast(),
            &mut size,
        )
    };
    (rc == 0).then_some(data)
}

#[cfg(windows)]
fn default_paths() -> Vec<OsString> {
    let mut paths = Vec::new();
    if let Some(mut dir) = system_directory() {
        dir.push("Npcap");
        dir.push("wpcap.dll");
        paths.push(dir.into_os_string());
    }
    paths.push("wpcap.dll".into());
    paths
}

/// `GetSystemDirectoryW`, e.g. `C:\Windows\System32`.
#[cfg(windows)]
fn system_directory() -> Option<std::path::PathBuf> {
    use std::os::windows::ffi::OsStringExt;
    use windows_sys::Win32::System::SystemInformation::GetSystemDirectoryW;

    let mut buf = vec![0u16; 260];
    loop {
        let size = u32::try_from(buf.len()).ok()?;
        // SAFETY: `buf` is valid for `size` u16 writes; the function writes
        // at most that many (including the NUL) and returns the length.
        let n = unsafe { GetSystemDirectoryW(buf.as_mut_ptr(), size) } as usize;
        if n == 0 {
            return None;
        }
        if n < buf.len() {
            buf.truncate(n);
            return Some(OsString::from_wide(&buf).into());
        }
        // Too small: `n` is the size needed, NUL included.
        buf.resize(n, 0);
    }
}

#[cfg(any(target_os = "macos", target_os = "ios"))]
fn default_paths() -> Vec<OsString> {
    vec!["libpcap.A.dylib".into(), "libpcap.dylib".into()]
}

#[cfg(not(any(windows, target_os = "macos", target_os = "ios")))]
fn default_paths() -> Vec<OsString> {
    vec![
        "libpcap.so.1".into(),
        "libpcap.so.0.8".into(),
        "libpcap.so".into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::NOT_INSTALLED;

    #[test]
    fn bogus_path_is_library_not_found() {
        let err = Library::open("/nonexistent/rawsock-bogus/libpcap.so.1").unwrap_err();
        match &err {
            Error::LibraryNotFound { attempts } => {
                assert_eq!(attempts.len(), 1);
                assert!(attempts[0].starts_with("/nonexistent/rawsock-bogus/libpcap.so.1: "));
            }
            other => panic!("wrong error: {other:?}"),
        }
        assert!(err.to_string().starts_with(NOT_INSTALLED), "{err}");
    }

    #[test]
    fn no_paths_is_library_not_found() {
        let err = Library::open_paths(Vec::<&str>::new()).unwrap_err();
        assert_eq!(err, Error::LibraryNotFound { attempts: vec![] });
        assert_eq!(err.to_string(), NOT_INSTALLED);
    }

    #[test]
    fn a_file_that_is_no_library_is_library_not_found() {
        let here = std::env::current_dir().unwrap().join("Cargo.toml");
        let err = Library::open(&here).unwrap_err();
        assert!(
            matches!(err, Error::LibraryNotFound { .. }),
            "wrong error: {err:?}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_library_without_pcap_is_missing_symbol() {
        let err = Library::open("libc.so.6").unwrap_err();
        assert_eq!(
            err,
            Error::MissingSymbol {
                library: "libc.so.6".into(),
                symbol: "pcap_open_live"
            }
        );
        // ... and a later candidate that works still wins.
        if Library::open_default_paths().is_ok() {
            let mut paths = vec![OsString::from("libc.so.6")];
            paths.extend(Library::default_paths());
            assert!(Library::open_paths(paths).is_ok());
        }
    }

    #[test]
    fn libpcap_versions_from_version_texts() {
        let cases = [
            (
                "Npcap version 1.79, based on libpcap version 1.10.4",
                Some((1, 10, 4)),
            ),
            (
                "Npcap version 0.993, based on libpcap version 1.9.0",
                Some((1, 9, 0)),
            ),
            ("libpcap version 1.10.3 (with TPACKET_V3)", Some((1, 10, 3))),
            ("libpcap version 1.9.1", Some((1, 9, 1))),
            ("libpcap version 1.10", Some((1, 10, 0))),
            (
                "WinPcap version 4.1.3 (packet.dll version 4.1.0.2980)",
                None,
            ),
            ("libpcap version x.y", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(libpcap_version(text), want, "{text}");
        }
        let wakes = breakloop_wakes_reader(Some((1, 10, 0)));
        assert_eq!(wakes, cfg!(any(windows, target_os = "linux")));
        assert!(!breakloop_wakes_reader(Some((1, 9, 1))));
        assert!(!breakloop_wakes_reader(None));
    }

    #[cfg(not(windows))]
    #[test]
    fn npcap_admin_only_is_unknown_off_windows() {
        assert_eq!(npcap_admin_only(), None);
    }

    #[test]
    fn default_paths_are_platform_specific() {
        let paths = Library::default_paths();
        #[cfg(target_os = "linux")]
        assert_eq!(paths, ["libpcap.so.1", "libpcap.so.0.8", "libpcap.so"]);
        #[cfg(windows)]
        {
            assert!(paths[0].to_string_lossy().ends_with("\\Npcap\\wpcap.dll"));
            assert_eq!(paths.last().unwrap(), "wpcap.dll");
        }
        assert!(!paths.is_empty());
    }

    /// Needs libpcap installed but no privileges.
    #[test]
    fn real_library_loads_and_lists_devices() {
        let lib = match open_best_library() {
            Ok(lib) => lib,
            Err(e) => {
                println!("skipped: {e}");
                return;
            }
        };
        let version = lib.version();
        println!("{lib:?}");
        assert!(version.contains("pcap"), "{version}");
        let devs = lib.all_interfaces().expect("pcap_findalldevs");
        for d in &devs {
            println!("  {d} (flags {:#x})", d.flags);
            assert!(!d.name.is_empty());
        }
    }
}
