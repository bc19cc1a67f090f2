"""SCIM 2.0: users and groups of any SCIM service provider; also a roster source."""
