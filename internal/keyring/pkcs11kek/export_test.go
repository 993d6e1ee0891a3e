package pkcs11kek

// HoldModule keeps every call out of the module at path, as a module that
// stops answering would, until release is called.
func HoldModule(path string) (release func()) {
	m := moduleFor(path)
	m.mu.Lock()
	return m.mu.Unlock
}
