-- pg_temp.wait_acls(): wait (up to 15 s) until the nagare worker has
-- copied nagare.acl into the shared table the broker and the backends
-- authorize against (\i'd, from the top of the tree, by the regression tests that grant)
CREATE FUNCTION pg_temp.wait_acls() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..300 LOOP
    IF (SELECT loaded AND acls = (SELECT count(*) FROM nagare.acl) FROM nagare.acl_status) THEN
      RETURN true;
    END IF;
    PERFORM pg_sleep(0.05);
  END LOOP;
  RETURN false;
END $$;
