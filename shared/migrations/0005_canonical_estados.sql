-- A state is stored in its canonical form (upper case, no accents, underscores between words),
-- the form that callers' spellings normalise to and that lead rows and history carry. An
-- operator's row in another form is refused here instead of being written to leads as another
-- spelling.
ALTER TABLE crm_estados
    ADD CONSTRAINT crm_estados_canonical CHECK (estado ~ '^[A-Z0-9]+(_[A-Z0-9]+)*$');
