package keywrap

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestA256KWMatchesRFC3394Vectors(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	kek := unhex("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
	tests := []struct{ name, data, wrapped string }{
		{"4.4 128 bits of key data with a 256-bit KEK", "00112233445566778899AABBCCDDEEFF",
			"64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7"},
		{"4.5 192 bits of key data with a 256-bit KEK", "00112233445566778899AABBCCDDEEFF0001020304050607",
			"A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1"},
		{"4.6 256 bits of key data with a 256-bit KEK", "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
			"28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21"},
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Wrap(block, unhex(tc.data))
			if err != nil || !bytes.Equal(got, unhex(tc.wrapped)) {
				t.Fatalf("wrap = %X, %v; want %s", got, err, tc.wrapped)
			}
			back, err := Unwrap(block, got)
			if err != nil || !bytes.Equal(back, unhex(tc.data)) {
				t.Fatalf("unwrap = %X, %v", back, err)
			}
			got[len(got)-1] ^= 1
			if _, err := Unwrap(block, got); err == nil {
				t.Fatal("a flipped bit unwrapped")
			}
		})
	}
}

func TestWrapRefusesInputThatIsNotWholeBlocks(t *testing.T) {
	block, _ := aes.NewCipher(make([]byte, 32))
	for _, n := range []int{0, 8, 15, 17} {
		if _, err := Wrap(block, make([]byte, n)); err == nil {
			t.Errorf("Wrap of %d bytes succeeded", n)
		}
	}
	for _, n := range []int{0, 16, 23} {
		if _, err := Unwrap(block, make([]byte, n)); !errors.Is(err, ErrIntegrity) {
			t.Errorf("Unwrap of %d bytes: %v", n, err)
		}
	}
}

func FuzzUnwrap(f *testing.F) {
	block, _ := aes.NewCipher(make([]byte, 32))
	good, _ := Wrap(block, make([]byte, 32))
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Unwrap(block, in)
		if err == nil && !bytes.Equal(in, good) {
			t.Fatalf("mutated input unwrapped to %x", out)
		}
	})
}
