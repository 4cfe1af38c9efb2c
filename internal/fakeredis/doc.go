// Package fakeredis will hold a scripted fake Redis server (expect a command, send a reply, including
// garbage) for testing protocol edge cases that a real server never produces.
//
// It is empty until the Node actor issue lands; nothing here works yet.
package fakeredis
