package solvekit

// SetFusedSubmit switches the one-script submit (record and asynq task
// together) on or off, so that tests cover the two-step path used on
// Redis Cluster too.
func SetFusedSubmit(s *Service, on bool) { s.fused = on }

// DoneHeard counts the done notifications that reached a Wait.
func DoneHeard(s *Service) int64 { return s.rt.heard.Load() }
