// Package tty is the caller's terminal as the container shares it: the child's steps
// that take its foreground (or leave it, in a session of its own), and the launcher's
// side, which saves the terminal's state and restores it, passes job control on, and
// ends the container when the terminal hangs up.
package tty
