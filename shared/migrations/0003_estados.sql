-- State catalog. Operators extend it with plain INSERTs; the API reloads it periodically.
CREATE TABLE IF NOT EXISTS crm_estados (
    estado     text    PRIMARY KEY,
    sort_order integer NOT NULL DEFAULT 0
);

-- Alternative spellings, stored normalised: upper case, no accents, spaces as underscores.
CREATE TABLE IF NOT EXISTS crm_estado_aliases (
    alias  text PRIMARY KEY,
    estado text NOT NULL REFERENCES crm_estados (estado)
);

INSERT INTO crm_estados (estado, sort_order) VALUES
    ('EN_ESPERA', 10),
    ('CONTACTADO', 20),
    ('APROBADO', 30),
    ('CONFIRMADO', 40),
    ('EN_TRANSITO', 50),
    ('EN_BODEGA', 60),
    ('CANCELADO', 70)
ON CONFLICT (estado) DO NOTHING;

INSERT INTO crm_estado_aliases (alias, estado) VALUES
    ('APROVADO', 'APROBADO'),
    ('APPROVED', 'APROBADO'),
    ('CANCELAR', 'CANCELADO'),
    ('CANCELLED', 'CANCELADO'),
    ('CANCELED', 'CANCELADO'),
    ('CONFIRMAR', 'CONFIRMADO'),
    ('CONFIRMED', 'CONFIRMADO'),
    ('TRANSITO', 'EN_TRANSITO'),
    ('TRANSIT', 'EN_TRANSITO'),
    ('IN_TRANSIT', 'EN_TRANSITO'),
    ('BODEGA', 'EN_BODEGA'),
    ('WAREHOUSE', 'EN_BODEGA'),
    ('IN_WAREHOUSE', 'EN_BODEGA'),
    ('ESPERA', 'EN_ESPERA'),
    ('PENDING', 'EN_ESPERA'),
    ('WAITING', 'EN_ESPERA'),
    ('CONTACTED', 'CONTACTADO')
ON CONFLICT (alias) DO NOTHING;
