/* child.h: making a forked test child safe to crash. */
#ifndef CAIRN_TEST_CHILD_H
#define CAIRN_TEST_CHILD_H

/* Call first thing in a forked child that runs library code instead of exec'ing. cmocka
 * catches SIGSEGV, SIGBUS, SIGILL and SIGFPE and goes on with the next test; inherited by a
 * child, that turns one crash into a child that re-runs the rest of the suite (and forks
 * again: a fork bomb). This restores the default handlers so a crash ends the child, and
 * kills the child when the test process dies. */
void cairn_test_child_init(void);

#endif
