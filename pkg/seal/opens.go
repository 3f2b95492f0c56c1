package seal

// Opens reports whether blob, stored for (owner, name), opens with the
// configured keys. restore checks a backup's values with it before
// writing any.
func (s *Store) Opens(owner, name string, blob []byte) bool {
	_, err := s.kr.Open(owner, name, blob)
	return err == nil
}
