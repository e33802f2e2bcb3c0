-- Claims walk unassigned triggers in id order, and a dead triggerer's triggers by its id.
CREATE INDEX triggers_claim ON triggers (triggerer_id, id);
DROP INDEX triggers_triggerer;
