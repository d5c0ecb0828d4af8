// An LD_PRELOAD library (encoder_gate.backends.cpu_mask and .ci/avx2-only build and use it): the process and its children see an x86
// CPU without AVX-512, VNNI or AMX, an AVX2 one like many hosted CI runners (AMD EPYC before Zen 4),
// and run natively at full speed. CPUID faulting (arch_prctl ARCH_SET_CPUID, Linux 4.12 on, the
// cpuid_fault flag of /proc/cpuinfo) makes every cpuid instruction raise SIGSEGV; the handler runs
// the real cpuid, clears those features, and resumes after the instruction. Libraries that pick
// kernels by CPUID (ONNX Runtime's MLAS, oneDNN, MKL, PyTorch's ATen) then pick their AVX2 ones,
// so ONNX Runtime's U8S8 products saturate as on such a CPU. /proc/cpuinfo still shows the host's
// flags (encoder-gate's int8_path observes the path it computes, and says so). The program's own
// SIGSEGV handlers (Python's faulthandler) are kept and called for every other fault.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define ARCH_GET_CPUID 0x1011
#define ARCH_SET_CPUID 0x1012

static struct sigaction theirs;  // the SIGSEGV action the program asked for
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static void cpuid_native(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
}

static void mask(uint32_t leaf, uint32_t sub, uint32_t r[4]) {
    if (leaf == 7 && sub == 0) {
        // EBX: AVX512F 16, DQ 17, IFMA 21, PF 26, ER 27, CD 28, BW 30, VL 31
        r[1] &= ~((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31));
        // ECX: VBMI 1, VBMI2 6, VNNI 11, BITALG 12, VPOPCNTDQ 14
        r[2] &= ~((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14));
        // EDX: 4VNNIW 2, 4FMAPS 3, VP2INTERSECT 8, AMX-BF16 22, AVX512_FP16 23, AMX-TILE 24, AMX-INT8 25
        r[3] &= ~((1u << 2) | (1u << 3) | (1u << 8) | (1u << 22) | (1u << 23) | (1u << 24) | (1u << 25));
        if (r[0] > 0) r[0] = 0;  // no subleaf 1 (AVX-VNNI, AVX512_BF16, AMX-FP16, AVX-VNNI-INT8 ...)
    } else if (leaf == 7) {
        r[0] = r[1] = r[2] = r[3] = 0;
    } else if (leaf == 0xd && sub == 0) {
        r[0] &= ~(0xe0u | (1u << 17) | (1u << 18));  // no opmask/ZMM state, no AMX tile state
    } else if (leaf == 0x1d || leaf == 0x1e) {
        r[0] = r[1] = r[2] = r[3] = 0;  // AMX tile information
    }
}

static void on_segv(int sig, siginfo_t *info, void *raw) {
    ucontext_t *uc = (ucontext_t *)raw;
    greg_t *g = uc->uc_mcontext.gregs;
    const uint8_t *ip = (const uint8_t *)g[REG_RIP];
    if (ip && ip[0] == 0x0f && ip[1] == 0xa2) {
        uint32_t r[4];
        uint32_t leaf = (uint32_t)g[REG_RAX], sub = (uint32_t)g[REG_RCX];
        cpuid_native(leaf, sub, r);
        mask(leaf, sub, r);
        g[REG_RAX] = r[0]; g[REG_RBX] = r[1]; g[REG_RCX] = r[2]; g[REG_RDX] = r[3];
        g[REG_RIP] += 2;
        return;
    }
    if (theirs.sa_flags & SA_SIGINFO) {
        if (theirs.sa_sigaction) { theirs.sa_sigaction(sig, info, raw); return; }
    } else if (theirs.sa_handler != SIG_DFL && theirs.sa_handler != SIG_IGN) {
        theirs.sa_handler(sig); return;
    }
    struct sigaction dfl = {0};
    dfl.sa_handler = SIG_DFL;
    real_sigaction(SIGSEGV, &dfl, NULL);  // the fault repeats and ends the process as it would have
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    if (!real_sigaction) real_sigaction = dlsym(RTLD_NEXT, "sigaction");
    if (sig != SIGSEGV) return real_sigaction(sig, act, old);
    if (old) *old = theirs;
    if (act) theirs = *act;
    return 0;
}

sighandler_t signal(int sig, sighandler_t handler) {
    struct sigaction act = {0}, old;
    act.sa_handler = handler;
    act.sa_flags = SA_RESTART;
    if (sigaction(sig, &act, &old) != 0) return SIG_ERR;
    return old.sa_handler;
}

__attribute__((constructor)) static void start(void) {
    real_sigaction = dlsym(RTLD_NEXT, "sigaction");
    struct sigaction act = {0};
    act.sa_sigaction = on_segv;
    act.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&act.sa_mask);
    real_sigaction(SIGSEGV, &act, NULL);
    if (syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
        fprintf(stderr, "cpuid_mask: this CPU or kernel cannot fault on cpuid (no cpuid_fault flag): "
                        "nothing masked\n");
    }
}
