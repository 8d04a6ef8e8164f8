package config_test

import (
	"strings"
	"testing"

	"github.com/refundd/refundd/config"
)

func TestDefaultIsValid(t *testing.T) {
	if err := config.Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := config.Default()
	c.Addr = "8181"
	c.Policies = ""
	c.MaxBodyBytes = 0
	c.WriteTimeout = 0
	c.ShutdownDrain = -1
	c.LogFormat = "xml"
	c.LogLevel = "loud"
	err := c.Validate()
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	for _, want := range []string{"addr", "policies", "max-body-bytes", "write-timeout", "shutdown-drain", "log-format", "log-level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}
