package storage

import (
	"slices"
	"strings"
)

func sortItems(items []Item) {
	slices.SortFunc(items, func(a, b Item) int { return strings.Compare(a.Name, b.Name) })
}

func sortStrings(s []string) { slices.Sort(s) }

// SortSecrets sorts secrets by name, byte-wise.
func SortSecrets(s []Secret) {
	slices.SortFunc(s, func(a, b Secret) int { return strings.Compare(a.Name, b.Name) })
}
