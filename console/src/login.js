// The login page: say so when the last attempt failed (?failed).
if (new URLSearchParams(location.search).has('failed')) {
  document.getElementById('failed').hidden = false;
}
