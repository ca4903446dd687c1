// Gatehouse admin console: small progressive enhancements. Every page works without this file.
"use strict";

/** Copy buttons: data-copy names the id of the element whose text is copied. */
function setUpCopyButtons() {
  for (const button of document.querySelectorAll("[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) return;
      const text = source.textContent.trim();
      try {
        await navigator.clipboard.writeText(text);
      } catch {
        // No clipboard access (an insecure origin, a denied permission): select the text instead.
        const range = document.createRange();
        range.selectNodeContents(source);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        return;
      }
      const label = button.querySelector("span");
      const before = label ? label.textContent : "";
      button.classList.add("copied");
      if (label) label.textContent = "Copied";
      setTimeout(() => {
        button.classList.remove("copied");
        if (label) label.textContent = before;
      }, 2000);
    });
  }
}

/** Forms with data-confirm ask before they are sent. */
function setUpConfirmations() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

/** The flash message can be dismissed. */
function setUpFlash() {
  for (const link of document.querySelectorAll("[data-dismiss]")) {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      link.closest("[data-flash]")?.remove();
    });
  }
}

/** Fields shown only while a control has a value: data-show-when="name=value" on the dependent element. */
function setUpDependentFields() {
  const dependents = [...document.querySelectorAll("[data-show-when]")];
  if (!dependents.length) return;
  const update = () => {
    for (const element of dependents) {
      const [name, value] = element.dataset.showWhen.split("=");
      const controls = [...document.querySelectorAll(`[name="${CSS.escape(name)}"]`)];
      const active = controls.some((control) =>
        control.type === "checkbox" || control.type === "radio" ? control.checked && (value === undefined || control.value === value) : control.value === value,
      );
      element.hidden = !active;
    }
  };
  document.addEventListener("change", update);
  update();
}

/** The client type chooser switches the form's defaults without a page load. */
function setUpTypeChooser() {
  const chooser = document.querySelector("[data-type-chooser]");
  const form = document.querySelector("form[data-client-form]");
  if (!chooser || !form) return;
  const presets = JSON.parse(chooser.dataset.presets);
  for (const card of chooser.querySelectorAll("a[data-type]")) {
    card.addEventListener("click", (event) => {
      const preset = presets[card.dataset.type];
      if (!preset) return;
      event.preventDefault();
      for (const other of chooser.querySelectorAll("a[data-type]")) other.setAttribute("aria-current", String(other === card));
      form.elements.type.value = card.dataset.type;
      form.elements.application_type.value = preset.application_type;
      form.elements.public.checked = preset.public;
      form.elements.token_endpoint_auth_method.value = preset.token_endpoint_auth_method;
      for (const box of form.querySelectorAll('input[name="grant_types"]')) box.checked = preset.grant_types.includes(box.value);
      // The OpenID Connect scopes follow the type; API scopes picked already stay.
      for (const box of form.querySelectorAll('input[name="scopes"][data-standard]')) box.checked = preset.scopes.includes(box.value);
      for (const section of form.querySelectorAll("[data-for-types]")) section.hidden = !section.dataset.forTypes.split(" ").includes(card.dataset.type);
      history.replaceState(null, "", card.href);
      document.dispatchEvent(new Event("change"));
    });
  }
}

/** Typing scopes for a method in a route's rules switches that method's rule on. */
function setUpRouteRules() {
  document.addEventListener("input", (event) => {
    const match = /^scopes\.([^.]+)\.(all_of|any_of)$/.exec(event.target.name ?? "");
    if (!match || !event.target.value.trim()) return;
    const rule = document.querySelector(`input[type="checkbox"][name="scopes.${CSS.escape(match[1])}"]`);
    if (rule) rule.checked = true;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  setUpConfirmations();
  setUpFlash();
  setUpDependentFields();
  setUpTypeChooser();
  setUpRouteRules();
});
