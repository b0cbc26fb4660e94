/*
 * bcryptprimitives.dll for Wine 8.0, which lacks it: Rust's std (1.78 and
 * later) imports ProcessPrng from it for HashMap seeds and the like, so
 * without this DLL every Rust .exe fails to load (exit code 53).
 *
 * Test-only: tests/wine/run.sh and the Wine helper of tests/src/lib.rs build
 * it with mingw and copy it into a throwaway Wine prefix. It never ships with
 * sup or ersatz, and real Windows (8 and later) has its own.
 *
 *   x86_64-w64-mingw32-gcc -O2 -shared -o bcryptprimitives.dll \
 *       bcryptprimitives.c bcryptprimitives.def -ladvapi32
 */
#include <windows.h>

/* RtlGenRandom, exported by advapi32 under this name. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* Windows documents ProcessPrng as always returning TRUE; this one returns
 * FALSE if RtlGenRandom fails, so that a failure is not silently zero bytes. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
