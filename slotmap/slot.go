package slotmap

import (
	"bytes"
	"strings"
)

// NumSlots is the number of hash slots of a Redis Cluster; slots are numbered 0..NumSlots-1.
const NumSlots = 16384

// Slot returns the hash slot of key, as CLUSTER KEYSLOT computes it: CRC16/XMODEM of the key modulo
// NumSlots. When the key holds a hash tag, a '{' followed later by a '}' with at least one byte
// between them, only the bytes between the first '{' and the first '}' after it are hashed, so that
// "{user1000}.following" and "{user1000}.followers" share a slot. An empty tag ("foo{}{bar}")
// hashes the whole key. Slot does not allocate.
func Slot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if n := strings.IndexByte(key[open+1:], '}'); n > 0 {
			key = key[open+1 : open+1+n]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^key[i]]
	}
	return int(crc) & (NumSlots - 1)
}

// SlotBytes is Slot for a key held in a byte slice; it does not allocate either.
func SlotBytes(key []byte) int {
	if open := bytes.IndexByte(key, '{'); open >= 0 {
		if n := bytes.IndexByte(key[open+1:], '}'); n > 0 {
			key = key[open+1 : open+1+n]
		}
	}
	var crc uint16
	for _, b := range key {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^b]
	}
	return int(crc) & (NumSlots - 1)
}
