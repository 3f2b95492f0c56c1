package storage

// CacheBytes reports how many bytes c holds (tests only).
func CacheBytes(c *Cache) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
