// Package initproc is --init's PID 1: a reaper, made of the launcher's own code by a
// fork of the child, that forwards signals to COMMAND, reaps orphans, reports COMMAND's
// stops to the launcher, and exits with COMMAND's status.
package initproc
