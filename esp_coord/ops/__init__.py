"""Operations: what the operator runs, not what the care team uses.

- ops.backup      backup/restore of the database (`esp-coord backup`, `esp-coord restore`)
- ops.keys        secrets and master-key rotation (`esp-coord keys generate|rotate|status`)
- ops.audit       audit chain verification, off-host export, retention purge (`esp-coord audit …`)
- ops.retention   patient records past the retention period (`esp-coord patients retention`)

Each module exposes its click commands; esp_coord.cli registers them.
"""
