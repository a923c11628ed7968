package solvekit

import "net/netip"

// CallbackAddrAllowed tells whether s's callbacks may connect to ip.
func CallbackAddrAllowed(s *Service, ip netip.Addr) bool { return s.callbackAddrAllowed(ip) }
