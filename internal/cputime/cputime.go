// Package cputime reads the CPU time the process has used, which the
// benchmarks report beside wall time: on a machine shared with other work
// it varies far less, since waiting for a core is not counted.
package cputime
