package kql

import "math/bits"

// This file holds the bitwise functions: binary_and, binary_or, binary_xor, binary_not, the two
// shifts and bitset_count_ones. They work on the 64-bit two's complement of their arguments, take
// ints and longs only, and answer null for a null argument.

// registerBinaryFuncs adds this file's functions to the table built in funcs.go.
func registerBinaryFuncs(m map[string]fnSpec) {
	m["binary_and"] = binaryOp(func(a, b int64) any { return a & b })
	m["binary_or"] = binaryOp(func(a, b int64) any { return a | b })
	m["binary_xor"] = binaryOp(func(a, b int64) any { return a ^ b })
	// The shift counts modulo 64, as the language documents, and a negative shift is null.
	m["binary_shift_left"] = binaryOp(func(a, n int64) any {
		if n < 0 {
			return nil
		}
		return a << (n % 64)
	})
	m["binary_shift_right"] = binaryOp(func(a, n int64) any {
		if n < 0 {
			return nil
		}
		return a >> (n % 64)
	})
	m["binary_not"] = fnSpec{min: 1, max: 1, ret: checked(TypeLong, kInteger), impl: func(a []any) any {
		x, ok := a[0].(int64)
		if !ok {
			return nil
		}
		return ^x
	}}
	m["bitset_count_ones"] = fnSpec{min: 1, max: 1, ret: checked(TypeLong, kInteger), impl: func(a []any) any {
		x, ok := a[0].(int64)
		if !ok {
			return nil
		}
		return int64(bits.OnesCount64(uint64(x)))
	}}
}

// binaryOp is a function of two integers giving a long, null when either is null.
func binaryOp(f func(a, b int64) any) fnSpec {
	return fnSpec{min: 2, max: 2, ret: checked(TypeLong, kInteger, kInteger), impl: func(a []any) any {
		x, ok1 := a[0].(int64)
		y, ok2 := a[1].(int64)
		if !ok1 || !ok2 {
			return nil
		}
		return f(x, y)
	}}
}
