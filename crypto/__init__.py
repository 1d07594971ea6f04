"""Commercial cryptography: SM2, SM3, SM4 on native backends, the key store and the envelope."""
