"""The admin console at ``/admin``: server-rendered pages (Jinja2, autoescaped), signed in with
an API token (docs/adr/0023-admin-console.md).

Adding a page: a module with an ``APIRouter`` whose routes take
``Depends(console_user(Role.READER))`` (a page) or ``Depends(console_action(Role.ADMIN))`` (a
form post, CSRF-checked), rendering a template that extends ``admin/base.html`` with
:func:`hub.api.console.templating.render`; then one line in :mod:`hub.api.console.pages`.
The console reads and changes data only through services (import-linter: no SQLAlchemy here).
"""
