package seal

// Derive is Keyring.Derive of the store's keyring: a key for purpose
// derived from the master key with the hex id ("" for the active key), and
// that key's id. Maintenance commands use it (backup's MAC) without
// holding the keyring.
func (s *Store) Derive(id, purpose string, size int) ([]byte, string, error) {
	return s.kr.Derive(id, purpose, size)
}
