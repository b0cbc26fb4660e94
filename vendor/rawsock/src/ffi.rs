//! The C side: declarations transcribed from `pcap/pcap.h` and the table of
//! functions looked up in the library at run time.
//!
//! Only the functions listed in [`Api`] are ever looked up, so a library
//! whose other exports are stubs that abort (Wine's `wpcap.dll`:
//! `pcap_sendqueue_*`, `pcap_setmintocopy`, `pcap_getevent`, `pcap_open_dead`
//! (looked up on Linux only), `pcap_open_offline`, `pcap_dump_*`) or that
//! lacks newer functions (`pcap_set_immediate_mode`) still loads.

use std::ffi::{c_char, c_int, c_uchar, c_uint, c_void, CStr, OsStr};
use std::marker::{PhantomData, PhantomPinned};

use crate::Error;

pub(crate) const PCAP_ERRBUF_SIZE: usize = 256;

pub(crate) const PCAP_ERROR: c_int = -1;
pub(crate) const PCAP_ERROR_BREAK: c_int = -2;
pub(crate) const PCAP_ERROR_NO_SUCH_DEVICE: c_int = -5;
pub(crate) const PCAP_ERROR_PERM_DENIED: c_int = -8;
pub(crate) const PCAP_ERROR_PROMISC_PERM_DENIED: c_int = -11;
pub(crate) const PCAP_WARNING: c_int = 1;
pub(crate) const PCAP_WARNING_PROMISC_NOTSUP: c_int = 2;

pub(crate) const PCAP_TSTAMP_PRECISION_NANO: c_int = 1;

// Time stamp types, pcap/pcap.h; what each means: pcap-tstamp(7),
// https://www.tcpdump.org/manpages/pcap-tstamp.7.html
pub(crate) const PCAP_TSTAMP_HOST: c_int = 0;
pub(crate) const PCAP_TSTAMP_HOST_LOWPREC: c_int = 1;
pub(crate) const PCAP_TSTAMP_HOST_HIPREC: c_int = 2;
pub(crate) const PCAP_TSTAMP_ADAPTER: c_int = 3;
pub(crate) const PCAP_TSTAMP_ADAPTER_UNSYNCED: c_int = 4;
pub(crate) const PCAP_TSTAMP_HOST_HIPREC_UNSYNCED: c_int = 5;
pub(crate) const PCAP_NETMASK_UNKNOWN: u32 = 0xffff_ffff;

pub(crate) const PCAP_IF_LOOPBACK: u32 = 0x0000_0001;
pub(crate) const PCAP_IF_UP: u32 = 0x0000_0002;
pub(crate) const PCAP_IF_RUNNING: u32 = 0x0000_0004;

pub(crate) const DLT_EN10MB: c_int = 1;
#[cfg(not(target_os = "openbsd"))]
pub(crate) const DLT_RAW: c_int = 12;
#[cfg(target_os = "openbsd")]
pub(crate) const DLT_RAW: c_int = 14;

/// Opaque `pcap_t`; only ever used behind a pointer.
#[repr(C)]
pub(crate) struct PcapT {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}

/// `struct timeval` as the library was built with it.
#[cfg(unix)]
pub(crate) type Timeval = libc::timeval;

/// `struct timeval` of winsock: two 32-bit `long`s.
// `struct timeval` of winsock: two `long`s, 32 bits each even on 64-bit
// Windows (https://learn.microsoft.com/en-us/windows/win32/api/winsock/ns-winsock-timeval;
// Npcap's bpf_hdr "matches a pcap_pkthdr", pcap_read_npf in
// https://github.com/nmap/libpcap/blob/master/pcap-npf.c).
#[cfg(windows)]
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Timeval {
    pub tv_sec: std::ffi::c_long,
    pub tv_usec: std::ffi::c_long,
}

/// `struct pcap_pkthdr`. Apple's libpcap appends a `comment` field; that does
/// not matter here because this crate only reads headers the library
/// allocated, through pointers, and never allocates one.
#[repr(C)]
pub(crate) struct PcapPkthdr {
    pub ts: Timeval,
    pub caplen: u32,
    pub len: u32,
}

/// `struct pcap_if` (`pcap_if_t`).
#[repr(C)]
pub(crate) struct PcapIf {
    pub next: *mut PcapIf,
    pub name: *mut c_char,
    pub description: *mut c_char,
    pub addresses: *mut c_void,
    pub flags: u32,
}

/// `struct bpf_program`.
#[repr(C)]
pub(crate) struct BpfProgram {
    pub bf_len: c_uint,
    pub bf_insns: *mut c_void,
}

/// `struct pcap_stat`, with room for the `_WIN32` extras.
// `struct pcap_stat`, with room for the three extra `u_int`s of the `_WIN32`
// definition (`ps_capt`, `ps_sent`, `ps_netdrop`) so that a library built
// with them cannot write past the end. (Npcap's pcap_stats fills only
// ps_recv, ps_drop and a 0 in ps_ifdrop: pcap_stats_npf in
// https://github.com/nmap/libpcap/blob/master/pcap-npf.c.)
#[repr(C)]
#[derive(Default)]
pub(crate) struct PcapStat {
    pub ps_recv: c_uint,
    pub ps_drop: c_uint,
    pub ps_ifdrop: c_uint,
    pub _win32_extra: [c_uint; 3],
}

/// `pcap_handler`.
pub(crate) type PcapHandler =
    unsafe extern "C" fn(user: *mut c_uchar, h: *const PcapPkthdr, bytes: *const c_uchar);

/// `pcap_create` and the setters that go with it (all libpcap >= 1.0 and
/// every Npcap have them; looked up as a group).
pub(crate) struct CreateApi {
    pub create: unsafe extern "C" fn(source: *const c_char, errbuf: *mut c_char) -> *mut PcapT,
    pub set_snaplen: unsafe extern "C" fn(p: *mut PcapT, snaplen: c_int) -> c_int,
    pub set_promisc: unsafe extern "C" fn(p: *mut PcapT, promisc: c_int) -> c_int,
    pub set_timeout: unsafe extern "C" fn(p: *mut PcapT, to_ms: c_int) -> c_int,
    pub activate: unsafe extern "C" fn(p: *mut PcapT) -> c_int,
}

/// The time stamp type functions, looked up as a group.
// `pcap_list_tstamp_types`, `pcap_free_tstamp_types` and
// `pcap_set_tstamp_type` (libpcap >= 1.2.1; Npcap lists its modes since it
// is based on libpcap 1.10, https://github.com/nmap/npcap/issues/276),
// looked up as a group.
#[derive(Clone, Copy)]
pub(crate) struct TstampApi {
    pub list: unsafe extern "C" fn(p: *mut PcapT, types: *mut *mut c_int) -> c_int,
    pub free: unsafe extern "C" fn(types: *mut c_int),
    pub set: unsafe extern "C" fn(p: *mut PcapT, tstamp_type: c_int) -> c_int,
}

/// The functions of an opened libpcap / wpcap.dll.
///
/// The function pointers stay valid as long as `_lib` is loaded; `_lib` is
/// only unloaded when the `Api` is dropped, and everything that calls them
/// (a [`crate::Library`], each open handle) holds an `Arc<Api>`.
pub(crate) struct Api {
    pub open_live: unsafe extern "C" fn(
        device: *const c_char,
        snaplen: c_int,
        promisc: c_int,
        to_ms: c_int,
        errbuf: *mut c_char,
    ) -> *mut PcapT,
    pub close: unsafe extern "C" fn(p: *mut PcapT),
    pub geterr: unsafe extern "C" fn(p: *mut PcapT) -> *mut c_char,
    pub sendpacket: unsafe extern "C" fn(p: *mut PcapT, buf: *const c_uchar, size: c_int) -> c_int,
    pub next_ex: unsafe extern "C" fn(
        p: *mut PcapT,
        pkt_header: *mut *mut PcapPkthdr,
        pkt_data: *mut *const c_uchar,
    ) -> c_int,
    pub breakloop: unsafe extern "C" fn(p: *mut PcapT),
    pub datalink: unsafe extern "C" fn(p: *mut PcapT) -> c_int,
    pub pcap_loop: unsafe extern "C" fn(
        p: *mut PcapT,
        cnt: c_int,
        callback: PcapHandler,
        user: *mut c_uchar,
    ) -> c_int,
    pub stats: unsafe extern "C" fn(p: *mut PcapT, ps: *mut PcapStat) -> c_int,
    pub compile: unsafe extern "C" fn(
        p: *mut PcapT,
        fp: *mut BpfProgram,
        text: *const c_char,
        optimize: c_int,
        netmask: u32,
    ) -> c_int,
    pub setfilter: unsafe extern "C" fn(p: *mut PcapT, fp: *mut BpfProgram) -> c_int,
    pub freecode: unsafe extern "C" fn(fp: *mut BpfProgram),
    pub findalldevs: unsafe extern "C" fn(alldevsp: *mut *mut PcapIf, errbuf: *mut c_char) -> c_int,
    pub freealldevs: unsafe extern "C" fn(alldevs: *mut PcapIf),
    pub lib_version: unsafe extern "C" fn() -> *const c_char,

    /// Missing in very old libraries: then `pcap_open_live` is used.
    pub create: Option<CreateApi>,
    /// Missing in libpcap < 1.5 and in Wine's wpcap.dll.
    pub set_immediate_mode: Option<unsafe extern "C" fn(p: *mut PcapT, on: c_int) -> c_int>,
    /// Missing in libpcap < 1.5.
    pub set_tstamp_precision:
        Option<unsafe extern "C" fn(p: *mut PcapT, precision: c_int) -> c_int>,
    pub get_tstamp_precision: Option<unsafe extern "C" fn(p: *mut PcapT) -> c_int>,
    /// Missing in libpcap < 1.2.1.
    pub tstamp: Option<TstampApi>,
    pub statustostr: Option<unsafe extern "C" fn(error: c_int) -> *const c_char>,
    /// Unix only.
    // Unix only (Npcap neither defines nor exports it,
    // https://npcap.com/guide/npcap-api.html; Windows waits on
    // `pcap_getevent`, which Wine stubs).
    #[cfg(unix)]
    pub get_selectable_fd: Option<unsafe extern "C" fn(p: *mut PcapT) -> c_int>,
    /// Missing in very old libraries.
    pub setnonblock:
        Option<unsafe extern "C" fn(p: *mut PcapT, nonblock: c_int, errbuf: *mut c_char) -> c_int>,
    /// Linux only, for compiling the filters of [`crate::linux`]'s sockets
    /// (never looked up elsewhere: Wine's wpcap.dll stubs it).
    #[cfg(target_os = "linux")]
    pub open_dead: Option<unsafe extern "C" fn(linktype: c_int, snaplen: c_int) -> *mut PcapT>,

    /// Where the library was loaded from (for messages).
    pub path: String,
    _lib: libloading::Library,
}

/// Looks `name` up in `lib`.
///
/// # Safety
///
/// `T` must be the exact (function pointer) type of the symbol.
unsafe fn symbol<T: Copy>(lib: &libloading::Library, name: &str) -> Option<T> {
    // SAFETY: the caller guarantees that `T` is the symbol's type; the value
    // is copied out of the `Symbol` and `Api` keeps `lib` loaded for as long
    // as the copy can be used.
    unsafe { lib.get::<T>(name.as_bytes()).ok().map(|s| *s) }
}

impl Api {
    /// Loads the library at `path` and looks up every function this crate uses.
    pub(crate) fn load(path: &OsStr) -> Result<Api, LoadError> {
        let lib = load_library(path).map_err(|e| LoadError::NotLoaded(e.to_string()))?;
        let display = path.to_string_lossy().into_owned();

        macro_rules! required {
            ($name:literal) => {
                // SAFETY: the field type this initialises transcribes the
                // prototype of `$name` in pcap/pcap.h (see `Api`).
                match unsafe { symbol(&lib, $name) } {
                    Some(f) => f,
                    None => {
                        return Err(LoadError::Unusable(Error::MissingSymbol {
                            library: display,
                            symbol: $name,
                        }))
                    }
                }
            };
        }
        macro_rules! optional {
            ($name:literal) => {
                // SAFETY: as for `required!`.
                unsafe { symbol(&lib, $name) }
            };
        }

        let create = (|| {
            Some(CreateApi {
                create: optional!("pcap_create")?,
                set_snaplen: optional!("pcap_set_snaplen")?,
                set_promisc: optional!("pcap_set_promisc")?,
                set_timeout: optional!("pcap_set_timeout")?,
                activate: optional!("pcap_activate")?,
            })
        })();

        Ok(Api {
            open_live: required!("pcap_open_live"),
            close: required!("pcap_close"),
            geterr: required!("pcap_geterr"),
            sendpacket: required!("pcap_sendpacket"),
            next_ex: required!("pcap_next_ex"),
            breakloop: required!("pcap_breakloop"),
            datalink: required!("pcap_datalink"),
            pcap_loop: required!("pcap_loop"),
            stats: required!("pcap_stats"),
            compile: required!("pcap_compile"),
            setfilter: required!("pcap_setfilter"),
            freecode: required!("pcap_freecode"),
            findalldevs: required!("pcap_findalldevs"),
            freealldevs: required!("pcap_freealldevs"),
            lib_version: required!("pcap_lib_version"),
            create,
            set_immediate_mode: optional!("pcap_set_immediate_mode"),
            set_tstamp_precision: optional!("pcap_set_tstamp_precision"),
            get_tstamp_precision: optional!("pcap_get_tstamp_precision"),
            tstamp: (|| {
                Some(TstampApi {
                    list: optional!("pcap_list_tstamp_types")?,
                    free: optional!("pcap_free_tstamp_types")?,
                    set: optional!("pcap_set_tstamp_type")?,
                })
            })(),
            statustostr: optional!("pcap_statustostr"),
            #[cfg(unix)]
            get_selectable_fd: optional!("pcap_get_selectable_fd"),
            setnonblock: optional!("pcap_setnonblock"),
            #[cfg(target_os = "linux")]
            open_dead: optional!("pcap_open_dead"),
            path: display,
            _lib: lib,
        })
    }

    /// `pcap_statustostr(code)`, or a generic text when the library lacks it.
    pub(crate) fn status_text(&self, code: c_int) -> String {
        if let Some(statustostr) = self.statustostr {
            // SAFETY: pcap_statustostr accepts any code and returns a pointer
            // to a NUL-terminated string (static, or a static buffer for
            // unknown codes), or NULL, which `static_text` handles.
            let text = unsafe { static_text(statustostr(code)) };
            if !text.is_empty() {
                return text;
            }
        }
        format!("pcap error {code}")
    }

    /// `pcap_lib_version()`.
    pub(crate) fn version(&self) -> String {
        // SAFETY: pcap_lib_version takes no argument and returns a pointer
        // to a static NUL-terminated string.
        unsafe { static_text((self.lib_version)()) }
    }
}

/// Why loading one candidate failed.
pub(crate) enum LoadError {
    /// The file could not be loaded at all (not there, wrong format...).
    NotLoaded(String),
    /// It was loaded but is not a usable pcap library.
    Unusable(Error),
}

#[cfg(not(windows))]
fn load_library(path: &OsStr) -> Result<libloading::Library, libloading::Error> {
    // SAFETY: loading runs the library's initialisers; libpcap's (and those
    // of the libraries it links) have no preconditions on the caller.
    unsafe { libloading::Library::new(path) }
}

#[cfg(windows)]
fn load_library(path: &OsStr) -> Result<libloading::Library, libloading::Error> {
    use libloading::os::windows::{
        Library, LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR, LOAD_LIBRARY_SEARCH_SYSTEM32,
    };
    // Npcap installs wpcap.dll and the Packet.dll it imports into
    // System32\Npcap, and says to make that directory searched rather than
    // rely on the default DLL search path (which is why WinPcap's DLLs in
    // System32 would win over Npcap's):
    // https://npcap.com/guide/npcap-devguide.html#npcap-feature-native-dll
    // Its example does that with SetDllDirectory, which changes the search
    // path of the whole process. The LOAD_LIBRARY_SEARCH_* flags of
    // LoadLibraryExW do it for this one load only, and leave out the
    // directories that can be planted: the application directory, the
    // current directory and PATH (both the standard search and
    // LOAD_WITH_ALTERED_SEARCH_PATH's order look in the current directory
    // and PATH):
    // https://learn.microsoft.com/en-us/windows/win32/api/libloaderapi/nf-libloaderapi-loadlibraryexw
    // https://learn.microsoft.com/en-us/windows/win32/dlls/dynamic-link-library-search-order
    // (public report of the hijack with a bare LoadLibrary("wpcap.dll"):
    // https://github.com/google/gopacket/issues/690).
    let given = std::path::Path::new(path);
    let (path, flags) = match dll_search(given) {
        DllSearch::OwnDirAndSystem32 => (
            // DLL_LOAD_DIR wants a full path.
            std::path::absolute(given)
                .unwrap_or_else(|_| given.to_path_buf())
                .into_os_string(),
            LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_SYSTEM32,
        ),
        DllSearch::System32Only => (path.to_os_string(), LOAD_LIBRARY_SEARCH_SYSTEM32),
    };
    // SAFETY: loading runs wpcap.dll's (and Packet.dll's) DllMain, which
    // has no preconditions on the caller.
    unsafe { Library::load_with_flags(path, flags) }.map(Into::into)
}

/// Where Windows may look for a candidate library and its imports.
#[cfg(any(windows, test))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DllSearch {
    /// A path (`System32\Npcap\wpcap.dll`): that directory, so that its
    /// Packet.dll is the one beside it, then System32.
    OwnDirAndSystem32,
    /// A bare name (`wpcap.dll` of WinPcap, of Npcap in "WinPcap
    /// API-compatible mode", Wine's builtin): System32 only. Never the
    /// application directory, the current directory or PATH.
    System32Only,
}

/// See [`DllSearch`].
#[cfg(any(windows, test))]
pub(crate) fn dll_search(path: &std::path::Path) -> DllSearch {
    if path.components().count() > 1 {
        DllSearch::OwnDirAndSystem32
    } else {
        DllSearch::System32Only
    }
}

/// Copies a NUL-terminated string owned by the library (NULL gives "").
///
/// # Safety
///
/// `ptr` must be NULL or point to a NUL-terminated string that is not
/// modified during the call.
pub(crate) unsafe fn static_text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: non-NULL and NUL-terminated, per this function's contract.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// Copies the text in a `PCAP_ERRBUF_SIZE` error buffer, reading at most
/// `PCAP_ERRBUF_SIZE` bytes even if no NUL terminates it.
///
/// # Safety
///
/// `ptr` must be NULL or readable up to its first NUL or for
/// `PCAP_ERRBUF_SIZE` bytes, whichever comes first.
pub(crate) unsafe fn errbuf_text(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    let mut bytes = Vec::new();
    for i in 0..PCAP_ERRBUF_SIZE {
        // SAFETY: i < PCAP_ERRBUF_SIZE and no NUL was met before index i,
        // so this byte is readable per the contract.
        let b = unsafe { ptr.add(i).read() } as u8;
        if b == 0 {
            break;
        }
        bytes.push(b);
    }
    String::from_utf8_lossy(&bytes).trim_end().to_owned()
}

/// Text of a local `errbuf` array (no unsafe needed: it is ours).
pub(crate) fn local_errbuf_text(buf: &[c_char; PCAP_ERRBUF_SIZE]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn dll_search_never_includes_the_current_directory() {
        assert_eq!(dll_search(Path::new("wpcap.dll")), DllSearch::System32Only);
        assert_eq!(
            dll_search(Path::new("C:/Windows/System32/Npcap/wpcap.dll")),
            DllSearch::OwnDirAndSystem32
        );
        // A relative path is made absolute before loading, never searched.
        assert_eq!(
            dll_search(Path::new("Npcap/wpcap.dll")),
            DllSearch::OwnDirAndSystem32
        );
    }
}
