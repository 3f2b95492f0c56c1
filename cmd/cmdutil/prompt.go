package cmdutil

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// Confirm asks question on stderr and reads a yes/no answer from stdin;
// only "y" or "yes" (any case) is yes. Callers check IsStdinTTY first.
func (s *IOStreams) Confirm(question string) (bool, error) {
	fmt.Fprint(s.ErrOut, question+" [y/N] ")
	line, err := bufio.NewReader(s.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	if errors.Is(err, io.EOF) && line == "" {
		fmt.Fprintln(s.ErrOut)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// ConfirmOr asks question on the terminal (Confirm); a no is the error
// refused (e.g. "nothing deleted") with exit code 1.
func (s *IOStreams) ConfirmOr(question, refused string) error {
	ok, err := s.Confirm(question)
	if err != nil {
		return err
	}
	if !ok {
		return WithCode(ExitFailure, errors.New(refused))
	}
	return nil
}

// ReadHidden prints prompt on stderr and reads one line from a terminal
// without echoing it (for typing a secret). When stdin is not a real
// terminal (tests), it reads one line as is. The newline is not returned.
func (s *IOStreams) ReadHidden(prompt string) (string, error) {
	fmt.Fprint(s.ErrOut, prompt)
	if f, ok := s.In.(*os.File); ok && s.inTTY {
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(s.ErrOut)
		return string(b), err
	}
	line, err := bufio.NewReader(s.In).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r"), nil
}
