package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/countersign/countersign/internal/directory"
	"github.com/countersign/countersign/internal/validate"
)

// Tenant-wide enablement (B1) and phased enforcement (A1).

func printChecklist(c *cmdCtx, cl *directory.Checklist) error {
	return c.out(cl, func(w io.Writer) {
		if cl.EnabledAt != nil {
			fmt.Fprintf(w, "MFA enabled for the whole tenant on %s by %s; it cannot be undone.\n", cl.EnabledAt.Format(time.RFC3339), cl.EnabledBy)
		} else if cl.Ready {
			fmt.Fprintln(w, "Ready: every required item is OK (countersign enablement enable --confirm SLUG).")
		} else {
			fmt.Fprintln(w, "Not ready: complete the required items marked MISSING.")
		}
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ITEM\tSTATE\tCOUNT\tDETAIL")
		for _, it := range cl.Items {
			state := "ok"
			switch {
			case !it.OK && it.Required:
				state = "MISSING"
			case !it.OK:
				state = "warning"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\n", it.Key, state, it.Count, it.Total, it.Detail)
		}
		tw.Flush()
	})
}

func enablementShow(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	cl, err := c.srv.Directory.Enablement(ctx, c.operator(t.ID))
	if err != nil {
		return err
	}
	return printChecklist(c, cl)
}

func enablementEnable(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if err := c.require("confirm", c.o.confirm); err != nil {
		return err
	}
	cl, err := c.srv.Directory.Enable(ctx, c.operator(t.ID), c.o.confirm)
	if err != nil {
		if cl != nil && !c.o.json {
			_ = printChecklist(c, cl)
		}
		return err
	}
	return printChecklist(c, cl)
}

func enablementTestMessage(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if err := c.require("channel", c.o.channel, "to", c.o.to); err != nil {
		return err
	}
	if err := c.srv.Directory.SendTestMessage(ctx, c.operator(t.ID), c.o.channel, c.o.to); err != nil {
		return err
	}
	return c.out(map[string]string{"status": "queued"}, func(w io.Writer) {
		fmt.Fprintf(w, "test message queued; a running server delivers it (see countersign enablement show)\n")
	})
}

func phaseAdd(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if err := c.require("name", c.o.name, "starts-at", c.o.startsAt); err != nil {
		return err
	}
	starts, err := time.Parse(time.RFC3339, strings.TrimSpace(c.o.startsAt))
	if err != nil {
		return validate.Errors{{Field: "starts_at", Code: "invalid", Message: "Write the start as 2030-01-31T08:00:00Z (RFC 3339)."}}
	}
	p, err := c.srv.Directory.AddPhase(ctx, c.operator(t.ID), directory.NewPhase{Name: c.o.name,
		Groups: splitList(c.o.groups), Units: splitList(c.o.units), StartsAt: starts})
	if err != nil {
		return err
	}
	return c.out(directory.ToPhaseBody(directory.PhaseProgress{Phase: *p}), func(w io.Writer) {
		fmt.Fprintf(w, "scheduled phase %s (%s) from %s; the people it covers are told by the server\n", p.Name, p.ID, p.StartsAt.Format(time.RFC3339))
	})
}

func phaseList(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	list, err := c.srv.Directory.Phases(ctx, c.operator(t.ID))
	if err != nil {
		return err
	}
	out := []directory.PhaseBody{}
	for _, p := range list {
		out = append(out, directory.ToPhaseBody(p))
	}
	return c.out(out, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tSTARTS\tSTARTED\tENROLLED\tGROUPS\tUNITS")
		for _, p := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d/%d\t%s\t%s\n", p.Phase.ID, p.Phase.Name, p.Phase.StartsAt.Format(time.RFC3339), p.Started,
				p.Enrolled, p.InScope, strings.Join(p.Phase.Groups, ","), strings.Join(p.Phase.Units, ","))
		}
		tw.Flush()
	})
}

func phaseDelete(ctx context.Context, c *cmdCtx) error {
	t, err := c.tenant(ctx)
	if err != nil {
		return err
	}
	if err := c.require("phase", c.o.phase); err != nil {
		return err
	}
	if err := c.srv.Directory.DeletePhase(ctx, c.operator(t.ID), c.o.phase); err != nil {
		return err
	}
	return c.out(map[string]string{"deleted": c.o.phase}, func(w io.Writer) { fmt.Fprintf(w, "deleted phase %s\n", c.o.phase) })
}
