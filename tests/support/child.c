/* child.c: default crash signals and parent-death signal for forked test children. */
#include <signal.h>
#include <sys/prctl.h>

#include "support/child.h"

void cairn_test_child_init(void)
{
	static const int crash_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };

	for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
		signal(crash_signals[i], SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
}
