package launcher

import (
	"fmt"
	"net/http"
	"time"
)

// StopProxy asks an Istio-compatible sidecar's agent to exit (POST
// /quitquitquit), so a pod whose VM powered off can complete instead of
// running its proxy forever.
func StopProxy(addr string) error {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Post("http://"+addr+"/quitquitquit", "text/plain", nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s/quitquitquit: %s", addr, resp.Status)
	}
	return nil
}
