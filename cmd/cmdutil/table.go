package cmdutil

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Table prints records as gh does: on a terminal, aligned columns under a
// header; elsewhere one tab-separated line per record and no header, for
// cut and awk. Cells are made safe to print (DisplayText) and never hold a
// tab or a newline.
type Table struct {
	w      io.Writer
	tty    bool
	header []string
	rows   [][]string
}

// NewTable starts a table on s.Out with the columns of header.
func NewTable(s *IOStreams, header ...string) *Table {
	return &Table{w: s.Out, tty: s.IsStdoutTTY(), header: header}
}

// Row adds one record.
func (t *Table) Row(cells ...string) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(DisplayText(c))
	}
	t.rows = append(t.rows, row)
}

// Render prints the table.
func (t *Table) Render() error {
	if !t.tty {
		for _, r := range t.rows {
			if _, err := fmt.Fprintln(t.w, strings.Join(r, "\t")); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(t.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// WriteRows prints a listing: items as JSON or YAML when format is one of
// them, else a Table of header with the cells of each item.
func WriteRows[T any](s *IOStreams, format string, items []T, header []string, cells func(T) []string) error {
	if done, err := WriteRecord(s.Out, format, items); done {
		return err
	}
	t := NewTable(s, header...)
	for _, item := range items {
		t.Row(cells(item)...)
	}
	return t.Render()
}
