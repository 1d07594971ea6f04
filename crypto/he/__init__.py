"""Privacy-preserving statistics across departments: threshold homomorphic encryption.

n departments hold Shamir shares of one RLWE secret (any t decrypt); each encrypts its own
records slot-packed under the joint public key; the platform aggregates ciphertexts without
any key; t departments decrypt the aggregate together; release control checks k per group,
adds optional differential-privacy noise and signs a record. Built on Lattigo v6 through a
Go bridge (docs/he.md explains why not OpenFHE's Python wheel, and every protocol).

Modules: :mod:`params` (presets, HE-standard check), :mod:`container` (the one file format),
:mod:`keygen` (the ceremony), :mod:`columns` (department upload), :mod:`aggregate`
(platform), :mod:`decryption` (threshold decryption), :mod:`release`, :mod:`sharestore`.
"""
